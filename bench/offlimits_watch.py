"""Benchmark: what the off-limits watch costs one submission.

Replays the requests the grader sent the reference in its self-test (every request a correct
submission is sent) through the worker's request handler in this process, in alternating rounds:
with no watch at all (torch's own kernels), and with the watch as the worker runs it (the
kernels replaced at torch's dispatcher, counters read around every off-limits exercise, torch's
function mode for the numpy-only ones, and the record of calls written to a pipe and read back
as the grader reads it, call by call). The difference, per submission, is the watch's cost; the
target is a share of one submission's whole handling time.
Usage: python -m bench.offlimits_watch [--json]
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

from autograder import ROOT
from autograder.grading import evidence, protocol, worker
from learner import kernelwatch, manifest

from .figures import Figure, report

TARGET = 0.25  # the watch may add at most a quarter to handling a submission's requests
ROUNDS = 9


def requests() -> list[tuple[dict, list]]:
    """The requests the hidden suites send a correct submission (the grader's self-test)."""
    from autograder.grading.grader import Grader

    with Grader(run_seed=1) as grader:
        frames = grader.requests
    out = []
    for frame in frames:
        stream = io.BytesIO(frame)
        data, arrays = protocol.read_frame(stream.read, protocol.MAX_FRAME)
        if data.get("op") != "load":
            out.append((data, arrays))
    return out


@contextlib.contextmanager
def _unwatched(groups: list[str]) -> Iterator[None]:
    yield


def replay(
    session: worker.Session, sent: list[tuple[dict, list]], record: evidence.Record | None = None
) -> float:
    """Seconds `session` takes to answer `sent`, as a worker does (with `record`: watched)."""
    start = time.perf_counter()
    for seq, (data, arrays) in enumerate(sent, 1):
        kernelwatch.mark(kernelwatch.OPEN, seq)  # as worker.serve does (a no-op unwitnessed)
        session.handle(data, arrays, seq)
        kernelwatch.mark(kernelwatch.CLOSE, seq)
        if record is not None:
            record.call(seq)
    return time.perf_counter() - start


def timings(sent: list[tuple[dict, list]], rounds: int = ROUNDS) -> tuple[float, float]:
    """Median seconds a session on the solutions takes to answer `sent` without the watch and
    with it, over `rounds` interleaved rounds (so that a change of load hits both)."""
    sources = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
    bare_times: list[float] = []
    watched_times: list[float] = []
    with tempfile.TemporaryDirectory() as root:
        worker.install_sources(root, sources)
        session = worker.Session(worker.import_resolver(root))
        real_enforce = worker.enforce
        try:
            for _ in range(rounds + 1):
                worker.enforce = _unwatched  # type: ignore[assignment]
                bare_times.append(replay(session, sent))
                worker.enforce = real_enforce
                with kernelwatch.scoped(), evidence.witnessed(os.urandom(16)) as record:
                    watched_times.append(replay(session, sent, record))
        finally:
            worker.enforce = real_enforce
    # the first round imports and warms up both paths
    return statistics.median(bare_times[1:]), statistics.median(watched_times[1:])


def figures() -> list[Figure]:
    sent = requests()
    watched = sum(1 for data, _ in sent if data.get("offlimits"))
    bare, full = timings(sent)
    cost = max(full - bare, 0.0)
    print(f"{len(sent)} requests, {watched} of them watched for off-limits calls")
    print(f"  unwatched {bare * 1e3:.1f} ms, watched {full * 1e3:.1f} ms per submission")
    return [
        Figure("off-limits watch per submission", cost * 1e3, unit="ms"),
        Figure("off-limits watch per watched request", cost * 1e6 / max(watched, 1), unit="us"),
        Figure("off-limits watch / handling a submission", cost / bare, TARGET),
    ]


if __name__ == "__main__":
    sys.exit(report("off-limits watch", figures(), as_json="--json" in sys.argv[1:]))
