"""Benchmark: grading throughput of `attention-kit autograde` against the cost of importing torch.

Builds N submissions by cycling through the sample class (reference, partial, typical mistakes,
hostile), grades them into a fresh OUT, and reports, from the same run: the floor (the worker's
own work on one correct submission: the requests the hidden suites send, answered in process,
no sandbox, no grader side; measured before the run and after it), the ratio
wall / (N x floor / cores) (target <= 3), the CPU per submission of the main process, the
grading lanes and the sandboxes (each over the floor), submissions per second, peak memory,
and the same wall time over N x import torch / cores.

The yardstick is the floor, not import torch: no grading with these checks can cost less than
the student's code answering them, and import torch is disk-bound (0.9 to 1.6 s on one machine,
page cache warm or cold) where grading is CPU-bound, so a ratio to it moves with the cache.
Usage: python -m bench.autograde_throughput [N] [--json]   (default 1000)
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

from . import process_cpu
from .figures import Figure, report

CLASS = ROOT / "examples" / "submissions"
# wall / (N x floor / cores): the student's code answering the checks once, and at most twice
# that for all the grader adds (the reference's answers, isolation, protocol, comparison, reports)
TARGET = 3.0


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


def answering_seconds(sent: list[tuple[dict, list]], rounds: int = 9) -> float:
    """The worker's own work on one correct submission: `sent` (offlimits_watch.requests, the
    requests the hidden suites send it) answered in this process (no sandbox, no grader side, the
    off-limits watch on); median of `rounds`. Grading costs at least this much CPU per
    submission: the benchmark's yardstick."""
    from .offlimits_watch import timings

    return timings(sent, rounds)[1]


def build(n: int, into: Path) -> None:
    students = sorted(p for p in CLASS.iterdir() if p.is_dir())
    for i in range(n):
        shutil.copytree(
            students[i % len(students)], into / f"s{i:05d}_{students[i % len(students)].name}"
        )


def figures(n: int = 1000) -> list[Figure]:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "submissions", Path(tmp) / "out"
        subs.mkdir()
        build(n, subs)
        t_import = import_torch_seconds()
        mode, fork_ms = worker_cost_ms()
        from .offlimits_watch import requests

        sent = requests()  # recorded once (a grader's start and self-test), replayed twice
        before = answering_seconds(sent)
        start = time.perf_counter()
        proc, split = process_cpu.measure(
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
            ]
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"autograde failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        # measured again after the run, the mean of both: a machine whose speed drifts during
        # the run (a shared host) moves both sides of the ratio alike
        after = answering_seconds(sent)
        answering = (before + after) / 2
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"autograde: {n} submissions cycling {len(list(CLASS.iterdir()))} sample students, ")
    print(f"  {cores} cores, sandbox mode {mode}, import torch {t_import:.2f} s (median of 3)")
    print(f"  wall {wall:.1f} s ({n / wall:.1f} submissions/s), peak RSS {peak_mb:.0f} MB")
    print(
        f"  one correct submission's requests answered in-process: {answering * 1e3:.0f} ms "
        f"(the mean of {before * 1e3:.0f} ms before the run and {after * 1e3:.0f} ms after)"
    )
    # CPU per submission over the floor, by process: on a busy machine these add up to the
    # ratio above (times the share of the cores the run kept busy)
    shares = (
        [
            Figure(f"CPU per submission / floor: {label}", split[role] / n / answering)
            for role, label in (
                ("main", "main process"),
                ("lanes", "grading lanes"),
                ("sandboxes", "sandboxes"),
            )
        ]
        if split is not None
        else []
    )
    return [
        Figure("autograde wall / (N x floor / cores)", wall / (n * answering / cores), TARGET),
        *shares,
        Figure("floor: a submission's requests answered", answering * 1e3, unit="ms"),
        Figure("floor / import torch", answering / t_import),
        Figure("autograde wall / (N x import torch / cores)", wall / (n * t_import / cores)),
        Figure("one sandboxed worker (fork, confine, load, ping, kill)", fork_ms, unit="ms"),
        Figure("one sandboxed worker / floor", fork_ms / 1000 / answering),
        Figure("submissions per second", n / wall, unit="/s"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    numbers = [a for a in args if a != "--json"]
    n = int(numbers[0]) if numbers else 1000
    return report("autograde throughput", figures(n), as_json=as_json)


if __name__ == "__main__":
    sys.exit(main())
