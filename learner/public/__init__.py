"""The public tests: what `make check` runs on your exercises, with their fixtures and helpers."""
