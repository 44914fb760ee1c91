"""Stand-ins for a grading lane (autograder/grading/batch.py `_lane`), for tests/test_lanes.py.

Each speaks the lane's protocol without a grader: ("mode", mode) once started, then per
submission ("graded", Graded) or ("error", line); what a student's id starts with says what the
stand-in does with it. They live in a module of their own so that a spawned lane can import them.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

from autograder.grading.model import Graded


def lane(n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection) -> None:
    """raises_*: grading raised; dies_*: the lane dies every time; once_*: the lane dies the
    first time only (a marker file in the submission's folder remembers); else: graded."""
    conn.send(("mode", "root"))
    while (sub := conn.recv()) is not None:
        if sub.student.startswith("raises"):
            conn.send(("error", "ValueError: a fault in the grader"))
            return
        if sub.student.startswith("dies"):
            os._exit(3)
        marker = sub.origin / "died-once"
        if sub.student.startswith("once") and not marker.exists():
            marker.touch()
            os._exit(4)
        conn.send(("graded", Graded(sub.student, sub.digest, run_seed, errors=list(sub.errors))))


def broken(n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection) -> None:
    """A lane whose reference self-test fails."""
    conn.send(("failed", f"lane {n}: RuntimeError: the reference solutions do not get full marks"))


def never_starts(
    n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection
) -> None:
    """A lane that dies before it is ready, every time."""
    os._exit(5)


def slow_start(
    n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection
) -> None:
    """A lane still starting (importing, self-testing) for a minute."""
    import time

    time.sleep(60)
    conn.send(("mode", "root"))


def says_sigint(
    n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection
) -> None:
    """Says how it found SIGINT when it started, before anything of the lane's own code."""
    import signal

    conn.send(("sigint", signal.getsignal(signal.SIGINT) == signal.SIG_IGN))
