"""The sample class for `make demo`."""
