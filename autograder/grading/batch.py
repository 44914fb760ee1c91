"""A whole class: collect -> grade each submission in a sandbox -> record -> report.

Lanes (one per core by default) are separate processes, each with its own grader and zygote,
grading submissions side by side. The main process alone writes the gradebook, one transaction
per student, so an interrupted run resumes with nothing lost or duplicated. Submissions already
graded with the same content and seed are not graded again.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import secrets
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import collect, record, report
from .model import Graded, Submission

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


LANE_POLL = 1.0  # seconds between checks that every lane is still alive


class LaneFailed(RuntimeError):
    """A grading lane stopped: the grader itself (not a student) failed."""


def autograde(
    submissions: Path,
    out: Path,
    *,
    seed: int | None = None,
    lanes: int | None = None,
    regrade: bool = False,
    timeout: float = 10.0,
    progress: bool = True,
) -> BatchSummary:
    """Grade every submission in `submissions` into `out`; returns what was done."""
    report.ensure_writable(out)
    subs = collect.collect(submissions)
    book = record.Gradebook(out / "gradebook.sqlite")
    try:
        if seed is not None:
            book.set_seed(seed)
        run_seed = book.seed(secrets.randbits(31))
        todo = [s for s in subs if regrade or not book.is_current(s.student, s.digest)]
        mode = "-"
        if todo:
            lanes = max(1, min(lanes or os.cpu_count() or 1, len(todo)))
            mode = _grade_all(todo, book, run_seed, timeout, lanes, progress)
        try:
            report.write_all(book, out)
        except OSError as e:  # OUT filled up (or went read-only) after the first check
            raise report.OutNotWritable(
                f"cannot write reports to {out}: {e.strerror or e}; every graded student is in "
                "the gradebook: free some space and run again to write them"
            ) from None
    finally:
        book.close()
    return BatchSummary(len(subs), len(todo), len(subs) - len(todo), mode, run_seed)


def _lane(n: int, run_seed: int, timeout: float, work: Any, done: Any) -> None:
    """One lane process: a grader of its own, fed submissions until it gets None."""
    from .grader import Grader
    from .sandbox import die_with_parent

    die_with_parent()  # a batch killed with -9 takes its lanes (and their zygotes) along
    # Ctrl-C is the main process's to handle (it stops the lanes): the lane, and the zygote and
    # workers that inherit this, ignore it rather than each print a KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Grader(run_seed, timeout=timeout) as grader:
            done.put(("mode", grader.mode))
            while (sub := work.get()) is not None:
                done.put(("graded", grader.grade(sub, lane=n)))
    except BaseException as e:
        done.put(("failed", f"lane {n}: {type(e).__name__}: {e}"))


def _grade_all(
    todo: list[Submission],
    book: record.Gradebook,
    run_seed: int,
    timeout: float,
    lanes: int,
    show: bool,
) -> str:
    """Grade `todo` in `lanes` processes, saving each student as it comes back; returns the mode."""
    ctx = multiprocessing.get_context("spawn")  # lanes start clean: no torch state forked
    work, done = ctx.Queue(), ctx.Queue()
    for sub in todo:
        work.put(sub)
    for _ in range(lanes):
        work.put(None)
    procs = [
        ctx.Process(target=_lane, args=(n, run_seed, timeout, work, done), daemon=True)
        for n in range(lanes)
    ]
    for p in procs:
        p.start()
    bar = report.Progress(len(todo), enabled=show)
    mode, saved = "-", 0
    try:
        while saved < len(todo):
            try:
                kind, item = done.get(timeout=LANE_POLL)
            except queue.Empty:  # a lane killed from outside never says so: look for one
                for n, p in enumerate(procs):
                    if p.exitcode is not None and p.exitcode != 0:
                        raise LaneFailed(f"lane {n} ended with exit code {p.exitcode}") from None
                continue
            if kind == "mode":
                if item == "basic" and mode != "basic":
                    print(BASIC_MODE_WARNING, file=sys.stderr)
                mode = item
            elif kind == "graded":
                graded: Graded = item
                try:
                    book.save(graded)
                except sqlite3.Error as e:  # OUT filled up during the run: stop, say so
                    raise report.OutNotWritable(
                        f"cannot save {graded.student} in {book.path}: {e}; {saved} students "
                        "were saved and are kept: free some space and run again to resume"
                    ) from None
                saved += 1
                bar.update(graded.student)
            else:
                raise LaneFailed(item)
    finally:
        bar.close()
        if saved < len(todo):
            # Submissions still queued for the lanes would block this process's exit forever
            # (the queue's feeder thread waits for a reader that is gone): drop them.
            work.cancel_join_thread()
        for p in procs:
            if saved < len(todo):
                p.kill()
            p.join()
    return mode
