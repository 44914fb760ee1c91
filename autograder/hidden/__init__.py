"""Hidden suites: instructor-only checks, one module per topic (test_<module>.py).

Never part of the student release, never imported by a worker.
"""
