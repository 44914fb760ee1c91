"""Reference solutions: `make exercises` strips the regions between the solution markers."""
