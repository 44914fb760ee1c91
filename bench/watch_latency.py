"""Benchmark: how long `make watch` takes from a save to the new report, against a cold check.

Starts `python -m learner.watch attention_scores` in a pseudo-terminal on a copy of the stubs,
then saves attention_scores REPEATS times, each after a pause that leaves the spare interpreter
time to import torch (as a student's editing does), and times each save until the report is
back. Against it, the median of `python -m learner.check --ex attention_scores` started cold
in the same workspace. Target: save to report <= 0.75 x the cold check. Exit status 1 when missed.
Usage: python -m bench.watch_latency [REPEATS] [--json]   (default 5)
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import ROOT

from .figures import Figure, report

TARGET = 0.75
PAUSE_SECONDS = 10.0  # between saves: the spare's torch import is done by then
WAIT_SECONDS = 120.0
READY = b"Watching exercises/"
# Three wrong answers in turn, so every save changes the file and the exercise stays current.
BODIES = (
    "return query @ inputs.T @ query",
    "return inputs @ query * 2",
    "return inputs.sum() * query",
)
STUB = 'raise NotImplementedError("attention_scores: not started")'


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}


def _read_until(fd: int, seen: bytearray, marker: bytes, count: int) -> None:
    """Read the terminal until `marker` has appeared `count` times."""
    deadline = time.monotonic() + WAIT_SECONDS
    while seen.count(marker) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no report within {WAIT_SECONDS:g} s")
        if select.select([fd], [], [], 0.05)[0]:
            seen += os.read(fd, 65536)


def watch_latencies(ws: Path, repeats: int) -> list[float]:
    path = ws / "exercises" / "simple_attention.py"
    stub = path.read_text()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the watch, with the pty as its terminal
        try:
            os.chdir(ws)
            argv = [sys.executable, "-m", "learner.watch", "attention_scores"]
            os.execvpe(argv[0], argv, _env())
        finally:
            os._exit(127)
    seen = bytearray()
    times = []
    try:
        _read_until(fd, seen, READY, 1)
        for i in range(repeats):
            time.sleep(PAUSE_SECONDS)
            start = time.perf_counter()
            path.write_text(stub.replace(STUB, BODIES[i % len(BODIES)]))
            _read_until(fd, seen, READY, i + 2)
            times.append(time.perf_counter() - start)
    finally:
        os.killpg(pid, signal.SIGINT)
        os.waitpid(pid, 0)
        os.close(fd)
    return times


def cold_check(ws: Path, repeats: int) -> list[float]:
    command = [sys.executable, "-m", "learner.check", "--ex", "attention_scores"]
    times = []
    for _ in range(repeats + 1):  # the first warms the caches
        start = time.perf_counter()
        subprocess.run(command, cwd=ws, env=_env(), stdout=subprocess.DEVNULL, timeout=300)
        times.append(time.perf_counter() - start)
    return times[1:]


def figures(repeats: int = 5) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        shutil.copytree(ROOT / "exercises", ws / "exercises")
        cold = cold_check(ws, repeats)
        warm = watch_latencies(ws, repeats)
    print(f"make watch latency: median of {repeats} saves, {PAUSE_SECONDS:g} s apart")
    for name, values in (("cold make check EX=", cold), ("watch: save to report", warm)):
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {name:<24} {statistics.median(values):5.2f} s  (runs {spread} s)")
    ratio = statistics.median(warm) / statistics.median(cold)
    return [Figure("make watch save-to-report / cold make check EX=", ratio, TARGET)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    numbers = [a for a in args if a != "--json"]
    return report("make watch", figures(int(numbers[0]) if numbers else 5), as_json=as_json)


if __name__ == "__main__":
    sys.exit(main())
