"""Benchmark: what the off-limits watch costs one submission.

Replays the grader's plan (every request a submission is sent, recorded while grading the
reference) through the worker's request handler in this process, first with no watch at all
(torch's own kernels, no function mode), then with the watch as the worker runs it (the kernels
replaced at torch's dispatcher, the function mode around every off-limits exercise). The
difference, per submission, is the watch's cost; the target is a share of one submission's
whole handling time. Usage: python -m bench.offlimits_watch [--json]
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator

from autograder import ROOT, kernelwatch, manifest
from autograder.grading import protocol, worker

from .figures import Figure, report

TARGET = 0.25  # the watch may add at most a quarter to handling a submission's requests
ROUNDS = 5


def _plan() -> list[tuple[dict, list]]:
    from autograder.grading.grader import Grader

    with Grader(run_seed=1) as grader:
        frames = grader.plan
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


def _replay(session: worker.Session, plan: list[tuple[dict, list]]) -> float:
    start = time.perf_counter()
    for data, arrays in plan:
        session.handle(data, arrays)
    return time.perf_counter() - start


def figures() -> list[Figure]:
    plan = _plan()
    watched = sum(1 for data, _ in plan if data.get("offlimits"))
    sources = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
    with tempfile.TemporaryDirectory() as root:
        worker.install_sources(root, sources)
        session = worker.Session(worker.import_resolver(root))
        real_enforce = worker.enforce
        worker.enforce = _unwatched  # type: ignore[assignment]
        try:
            _replay(session, plan)  # imports and first calls
            bare = statistics.median(_replay(session, plan) for _ in range(ROUNDS))
        finally:
            worker.enforce = real_enforce
        kernelwatch.install()
        kernelwatch.fresh()
        _replay(session, plan)
        full = statistics.median(_replay(session, plan) for _ in range(ROUNDS))
    cost = max(full - bare, 0.0)
    print(f"plan: {len(plan)} requests, {watched} of them watched for off-limits calls")
    print(f"  unwatched {bare * 1e3:.1f} ms, watched {full * 1e3:.1f} ms per submission")
    return [
        Figure("off-limits watch per submission", cost * 1e3, unit="ms"),
        Figure("off-limits watch per watched request", cost * 1e6 / max(watched, 1), unit="us"),
        Figure("off-limits watch / handling a submission", cost / bare, TARGET),
    ]


if __name__ == "__main__":
    sys.exit(report("off-limits watch", figures(), as_json="--json" in sys.argv[1:]))
