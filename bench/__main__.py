"""Every benchmark in one run: `python -m bench [--json]` (what `make bench` runs).

Each prints its figures with their targets (met / not met); with --json, one line per benchmark
for tracking. Exit status 1 when any target was missed.
"""

from __future__ import annotations

import sys

from . import autograde_throughput, check_latency, offlimits_watch, public_suite, watch_latency
from .figures import report

BENCHES = (
    ("public suite", public_suite.figures),
    ("make check", check_latency.figures),
    ("make watch", watch_latency.figures),
    ("autograde throughput", autograde_throughput.figures),
    ("off-limits watch", offlimits_watch.figures),
)


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    status = 0
    for name, figures in BENCHES:
        status |= report(name, figures(), as_json=as_json)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
