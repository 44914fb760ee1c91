"""Grading pipeline: collect -> isolate (zygote, sandbox) -> run (worker, suite) -> record ->
report."""
