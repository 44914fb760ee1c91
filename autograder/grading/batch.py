"""A whole class: collect -> grade each submission in a sandbox -> record -> report.

Lanes (one per core by default) are separate processes, each with its own grader and zygote,
grading submissions side by side. The main process alone writes the gradebook, one transaction
per student, so an interrupted run resumes with nothing lost or duplicated. Submissions already
graded with the same content and seed are not graded again. No student stops the class: a lane
that dies under a submission is replaced and the submission graded again once, then saved with
one line; the batch stops only when a lane cannot pass its reference self-test.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .. import course
from . import collect, record, report, similarity
from .model import Graded, Submission
from .student import BUDGET

BASIC_MODE_WARNING = (
    "warning: no Linux namespaces here: student code runs in separate processes with resource "
    "limits, but it can read files you can read and reach the network. Grade untrusted "
    "submissions on Linux (as root, or with unprivileged user namespaces enabled)."
)


@dataclass
class BatchSummary:
    collected: int
    graded: int
    skipped: int
    mode: str
    seed: int


LANE_POLL = 1.0  # seconds between looks at the lanes when none has said anything
ATTEMPTS = 2  # a submission whose lane dies under it is graded again once, then recorded
LANE_STARTS = 3  # a lane that dies this many times in a row before grading anyone: stop
UNFINISHED = "unfinished:"  # digest prefix of a student saved without grades: never current


class LaneFailed(RuntimeError):
    """A grading lane stopped: the grader itself (not a student) failed."""


class SuitesBroken(RuntimeError):
    """The hidden suites do not match exercises.toml: nothing was graded."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def autograde(
    submissions: Path,
    out: Path,
    *,
    seed: int | None = None,
    lanes: int | None = None,
    regrade: bool = False,
    timeout: float = 10.0,
    budget: float | None = BUDGET,
    progress: bool = True,
    suite_problems: Callable[[], list[str]] | None = None,
) -> BatchSummary:
    """Grade every submission in `submissions` into `out`; returns what was done.
    `suite_problems`: looked at while the lanes start; any problem raises SuitesBroken before
    a submission is read."""
    report.ensure_writable(out)
    path = out / "gradebook.sqlite"
    book = record.Gradebook(path) if path.exists() else None  # none written before the suites pass
    pool: dict[int, _Lane] = {}
    try:
        run_seed = seed if seed is not None else book.stored_seed() if book is not None else None
        if run_seed is None:
            run_seed = secrets.randbits(31)
        # The lanes start (import torch, start a zygote, pass the self-test) while the suites
        # are looked at and the submissions read: each takes seconds, on different cores.
        wanted = max(1, min(lanes or os.cpu_count() or 1, collect.entries(submissions)))
        pool = {n: _start_lane(n, run_seed, timeout, budget) for n in range(wanted)}
        problems = suite_problems() if suite_problems is not None else []
        if problems:
            raise SuitesBroken(problems)
        if book is None:
            book = record.Gradebook(path)
        book.set_seed(run_seed)
        subs = collect.collect(submissions)
        try:
            book.set_collected(s.student for s in subs)  # who is gone from SUBMISSIONS: marked
            book.set_submitted(course.submission_times(subs))  # timestamp.txt, else file times
        except sqlite3.Error as e:  # OUT is full before any grading
            raise report.OutNotWritable(
                f"cannot write to {book.path}: {e}; nothing was graded: free some space and "
                "run again"
            ) from None
        todo = [s for s in subs if regrade or not book.is_current(s.student, s.digest)]
        mode = "-"
        if todo:  # lanes beyond len(todo) are told to stop when there is nothing to hand out
            mode = _grade_all(todo, book, run_seed, timeout, budget, wanted, progress, pool=pool)
        _stop_lanes(pool)  # none was needed
        try:
            similarity.write(((s.student, s.sources) for s in subs), out)  # for report.html
            report.write_all(book, out)
        except OSError as e:  # OUT filled up (or went read-only) after the first check
            raise report.OutNotWritable(
                f"cannot write reports to {out}: {e.strerror or e}; every graded student is in "
                "the gradebook: free some space and run again to write them"
            ) from None
    finally:
        _stop_lanes(pool)
        if book is not None:
            book.close()
    return BatchSummary(len(subs), len(todo), len(subs) - len(todo), mode, run_seed)


def _lane(n: int, run_seed: int, timeout: float, budget: float | None, conn: Connection) -> None:
    """One lane process: a grader of its own, fed one submission at a time over `conn`.

    It says ("mode", mode) once the reference self-test passed, then answers each submission with
    ("graded", Graded), or ("error", line) when grading it raised, after which it stops (its
    zygote may be the broken part; a fresh lane takes over). ("failed", line): the grader itself
    could not start, and the batch stops."""
    from .isolate import Zygote  # neither imports torch
    from .sandbox import die_with_parent

    die_with_parent()  # a batch killed with -9 takes its lanes (and their zygotes) along
    # Ctrl-C is the main process's to handle (it stops the lanes): the lane, and the zygote and
    # workers that inherit this, ignore it rather than each print a KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    zygote = None
    try:
        # the zygote imports torch in its process while this one imports the suites and the
        # reference: two starts side by side, not one after the other
        zygote = Zygote(wait=False)
        from ..notebooks.extract import relabel_graded
        from .grader import Grader

        grader = Grader(run_seed, timeout=timeout, budget=budget, zygote=zygote)
    except BaseException as e:
        if zygote is not None:
            zygote.close()
        conn.send(("failed", f"lane {n}: {type(e).__name__}: {e}"))
        return
    with grader:
        conn.send(("mode", grader.mode))
        while (sub := conn.recv()) is not None:
            try:
                graded = relabel_graded(grader.grade(sub, lane=n), sub.cells)
            except Exception as e:  # a grader fault on this submission: say so, start afresh
                conn.send(("error", f"{type(e).__name__}: {e}"[:500]))
                return
            conn.send(("graded", graded))


@dataclass
class _Lane:
    """The main process's view of one lane: its process, its pipe, what it is grading."""

    n: int
    proc: Any
    conn: Connection
    ready: bool = False  # the self-test passed and it waits for work
    held: Submission | None = None
    starts: int = 1  # consecutive starts without a submission graded


LaneTarget = Callable[[int, int, float, float | None, Connection], None]


def _start_lane(
    n: int,
    run_seed: int,
    timeout: float,
    budget: float | None,
    target: LaneTarget = _lane,
    starts: int = 1,
) -> _Lane:
    ctx = multiprocessing.get_context("spawn")  # lanes start clean: no torch state forked
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=target, args=(n, run_seed, timeout, budget, theirs), daemon=True)
    # Ctrl-C is the main process's to handle: a lane starts with SIGINT ignored, so that one
    # still importing when it comes prints no KeyboardInterrupt of its own
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None  # None: not Python's to set
    if handler is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc.start()
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
    theirs.close()
    return _Lane(n, proc, ours, starts=starts)


def _stop_lanes(pool: dict[int, _Lane], done: bool = False) -> None:
    """End every lane of `pool` and empty it: `done` (every student saved): an idle lane is
    asked to close its grader and exit; any other is killed."""
    for lane in pool.values():
        if done and lane.ready and lane.held is None:
            try:
                lane.conn.send(None)  # done: it closes its grader and exits
                lane.proc.join(timeout=30)
            except OSError:
                pass
        if lane.proc.is_alive():
            lane.proc.kill()
        lane.proc.join()
        lane.conn.close()
    pool.clear()


def _grade_all(
    todo: list[Submission],
    book: record.Gradebook,
    run_seed: int,
    timeout: float,
    budget: float | None,
    lanes: int,
    show: bool,
    target: LaneTarget = _lane,
    pool: dict[int, _Lane] | None = None,
) -> str:
    """Grade `todo` in `lanes` processes, saving each student as it comes back; returns the mode.

    Each lane has a pipe of its own and is given one submission at a time, so the main process
    always knows what a lane holds: a lane that dies (killed from outside, out of memory) or
    whose grading raised is replaced by a fresh one, and its submission is graded again once,
    then saved with one error line. Only a lane that cannot start (the reference self-test
    fails, or it dies LANE_STARTS times in a row before grading anyone) stops the batch.
    `target` is what each lane process runs (the kit's own tests use stand-ins). `pool`: lanes
    started already (of `target`), used instead of starting `lanes` of them; it is emptied."""
    queue: deque[Submission] = deque(todo)
    attempts: dict[str, int] = {}

    def start(n: int, starts: int = 1) -> _Lane:
        return _start_lane(n, run_seed, timeout, budget, target, starts)

    if pool is None:
        pool = {n: start(n) for n in range(lanes)}
    bar = report.Progress(len(todo), enabled=show)
    mode, saved = "-", 0

    sources = {s.student: s.sources for s in todo}

    def save(graded: Graded) -> None:
        nonlocal saved
        try:
            book.save(graded, sources.get(graded.student))
        except sqlite3.Error as e:  # OUT filled up during the run: stop, say so
            raise report.OutNotWritable(
                f"cannot save {graded.student} in {book.path}: {e}; {saved} students "
                "were saved and are kept: free some space and run again to resume"
            ) from None
        saved += 1
        bar.update(graded.student)

    def lost(lane: _Lane, why: str) -> None:
        """`lane` is gone: its submission is graded again (once), and a fresh lane replaces it."""
        lane.conn.close()
        lane.proc.join(timeout=5)
        sub = lane.held
        if sub is not None:
            attempts[sub.student] = attempts.get(sub.student, 0) + 1
            if attempts[sub.student] < ATTEMPTS:
                queue.appendleft(sub)
            else:
                save(unfinished(sub, run_seed, why))
        starts = 1 if sub is not None or lane.ready else lane.starts + 1
        if starts > LANE_STARTS:
            raise LaneFailed(f"lane {lane.n} {why}, {LANE_STARTS} times before grading anyone")
        if queue:
            pool[lane.n] = start(lane.n, starts)
        else:
            del pool[lane.n]

    def hand_out(lane: _Lane) -> None:
        """The next submission to an idle lane, or None: the lane may go."""
        lane.held = queue.popleft() if queue else None
        lane.ready = lane.held is not None
        try:
            lane.conn.send(lane.held)
        except OSError:
            pass  # it died: its pipe or its sentinel says so below

    try:
        while saved < len(todo):
            for lane in list(pool.values()):  # hand out work, or let an idle lane go
                if lane.ready and lane.held is None:
                    hand_out(lane)
            watched = [x for lane in pool.values() for x in (lane.conn, lane.proc.sentinel)]
            if not watched:  # every lane stopped with students left: never expected
                raise LaneFailed(f"no lane left with {len(todo) - saved} students to grade")
            ready = set(wait(watched, timeout=LANE_POLL))
            for lane in list(pool.values()):
                if lane.conn not in ready and lane.proc.sentinel not in ready:
                    continue
                try:
                    message = lane.conn.recv() if lane.conn.poll() else None
                except (EOFError, OSError):
                    message = None
                if message is None:  # the lane is gone
                    lane.proc.join(timeout=5)
                    if lane.held is None and not lane.ready and lane.proc.exitcode == 0:
                        lane.conn.close()
                        del pool[lane.n]  # told to stop, and did
                    else:
                        lost(lane, f"ended with exit code {lane.proc.exitcode}")
                    continue
                kind, item = message
                if kind == "mode":
                    if item == "basic" and mode != "basic":
                        print(BASIC_MODE_WARNING, file=sys.stderr)
                    mode, lane.ready = item, True
                elif kind == "graded":
                    lane.held, lane.starts = None, 0
                    hand_out(lane)  # the lane grades the next one while this one is saved
                    save(item)
                elif kind == "error":
                    lost(lane, f"raised {item}")
                else:
                    raise LaneFailed(item)
    finally:
        bar.close()
        _stop_lanes(pool, done=saved == len(todo))
    return mode


def unfinished(sub: Submission, run_seed: int, why: str) -> Graded:
    """A student whose grading stopped twice: 0 points with one line saying so, and a digest
    that never counts as current, so that the next run grades them again."""
    now = time.time()
    line = (
        f"grading stopped twice on this submission (the grader's process {why}): it scores 0 "
        "for now and is graded again on the next run"
    )
    return Graded(
        sub.student,
        UNFINISHED + sub.digest,
        run_seed,
        errors=[*sub.errors, line],
        started=now,
        finished=now,
    )
