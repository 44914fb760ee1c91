"""Benchmark: wall time of `make check` against `python -c "import torch"`, in the same run.

Times, interleaved and after one warm-up each, `make -s check` in two workspaces (the fresh stubs
and the reference copied into exercises/) and the bare torch import; prints the medians and the
ratios. Target: make check <= 1.5 x import torch. Exit status 1 when a ratio misses it.
Usage: python -m bench.check_latency [REPEATS] [--json]   (default 5)
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import ROOT

from .figures import Figure, report

TARGET = 1.5
READY = ".venv/.ready"  # the Makefile's bootstrap stamp


def workspace(tmp: Path, name: str, source: Path) -> Path:
    """A copy of the repository's layout where only exercises/ differs: the rest are symlinks."""
    ws = tmp / name
    ws.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("exercises", ".git"):
            (ws / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (ws / "exercises").mkdir()
    for path in source.glob("*.py"):
        shutil.copy(path, ws / "exercises" / path.name)
    return ws


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_command() -> tuple[list[str], str]:
    """`make -s check`, told not to rebuild the venv when only its stamp is older than a config."""
    stale = subprocess.run(["make", "-q", READY], cwd=ROOT).returncode != 0
    if stale and (ROOT / READY).exists():
        return [
            "make",
            "-s",
            "-o",
            READY,
            "check",
        ], f" (venv stamp older than its inputs: -o {READY})"
    return ["make", "-s", "check"], ""


def figures(repeats: int = 5) -> list[Figure]:
    make, note = make_command()
    torch_cmd = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "import torch": (torch_cmd, ROOT),
            "make check, fresh stubs": (make, workspace(Path(tmp), "stubs", ROOT / "exercises")),
            "make check, all solved": (make, workspace(Path(tmp), "solved", ROOT / "solutions")),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for cmd, cwd in runs.values():
            timed(cmd, cwd)  # warm-up: bytecode caches, page cache
        for _ in range(repeats):
            for name, (cmd, cwd) in runs.items():
                times[name].append(timed(cmd, cwd))
    base = statistics.median(times["import torch"])
    print(f"make check latency: median of {repeats} interleaved runs{note}")
    for name, values in times.items():
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {name:<26} {statistics.median(values):5.2f} s  (runs {spread} s)")
    return [
        Figure(f"{name} / import torch", statistics.median(values) / base, TARGET)
        for name, values in times.items()
        if name != "import torch"
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    numbers = [a for a in args if a != "--json"]
    return report("make check", figures(int(numbers[0]) if numbers else 5), as_json=as_json)


if __name__ == "__main__":
    sys.exit(main())
