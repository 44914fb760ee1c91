"""Benchmark: the public tests' own run time (torch already imported) against importing torch.

Runs the public suite once on the reference with pytest's durations recorded, and sums the time
spent inside the tests. Target: the whole suite <= 0.5 x import torch, so that `make check`'s cost
is the interpreter and torch, not the checks.
Usage: python -m bench.public_suite [--json]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from autograder import ROOT

from .autograde_throughput import import_torch_seconds
from .figures import Figure, report

TARGET = 0.5


def figures() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "public.xml"
        inside = _run(junit)
    t_import = import_torch_seconds()
    print(f"public suite on the reference: {inside:.2f} s inside the tests")
    print(f"  import torch {t_import:.2f} s (median of 3)")
    return [Figure("public tests' run time / import torch", inside / t_import, TARGET)]


def _run(junit: Path) -> float:
    """Seconds spent inside the public tests (setup, call, teardown) on the reference."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            str(ROOT / "learner" / "public"),
            "--target=solutions",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the public suite failed on the reference:\n{proc.stdout[-3000:]}")
    # each testcase's time: its setup, call and teardown, to the millisecond
    return sum(float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return report("public suite", figures(), as_json="--json" in args)


if __name__ == "__main__":
    sys.exit(main())
