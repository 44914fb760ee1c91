"""Reference solutions. The regions between the solution markers are what `make exercises` strips."""
