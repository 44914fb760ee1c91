"""Benchmark: grading throughput of `attention-kit autograde` against the cost of importing torch.

Builds N submissions by cycling through the sample class (reference, partial, typical mistakes,
hostile), grades them into a fresh OUT, and reports, from the same run: submissions per second,
the ratio wall / (N x t(import torch) / cores) (target <= 0.05), and peak memory.
Usage: python -m bench.autograde_throughput [N]   (default 1000)
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import ROOT

CLASS = ROOT / "examples" / "submissions"


def import_torch_seconds(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker_cost_ms(count: int = 50) -> tuple[str, float]:
    """Sandbox mode and the cost of one sandboxed worker: fork, confine, load, one call, kill."""
    from autograder.grading import protocol
    from autograder.grading.isolate import SandboxChannel, Zygote

    zygote = Zygote()
    try:
        start = time.perf_counter()
        for _ in range(count):
            channel = SandboxChannel(zygote, 0, {})
            channel.request(protocol.pack({"op": "ping"}), 10.0)
            channel.stop()
        return zygote.mode, (time.perf_counter() - start) / count * 1000
    finally:
        zygote.close()


def build(n: int, into: Path) -> None:
    students = sorted(p for p in CLASS.iterdir() if p.is_dir())
    for i in range(n):
        shutil.copytree(
            students[i % len(students)], into / f"s{i:05d}_{students[i % len(students)].name}"
        )


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "submissions", Path(tmp) / "out"
        subs.mkdir()
        build(n, subs)
        t_import = import_torch_seconds()
        mode, fork_ms = worker_cost_ms()
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "autograder.cli",
                "autograde",
                "--quiet",
                "--submissions",
                str(subs),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            return 1
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ratio = wall / (n * t_import / cores)
    print(f"submissions:            {n} (cycling {len(list(CLASS.iterdir()))} sample students)")
    print(f"cores:                  {cores}")
    print(f"one sandboxed worker ({mode}: fork, confine, load, ping, kill): {fork_ms:.1f} ms")
    print(f"python -c 'import torch': {t_import:.2f} s (median of 3)")
    print(f"autograde wall time:    {wall:.1f} s  ({n / wall:.1f} submissions/s)")
    print(f"ratio wall / (N x import / cores): {ratio:.4f}  (target <= 0.05)")
    print(f"peak memory of one process (max RSS): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
