"""Your exercises: fill in the TODOs, then run `make check`."""
