"""A whole class: collect -> grade each submission in a sandbox -> record -> report.

Lanes (one per core by default) grade submissions side by side; the main thread alone writes the
gradebook, one transaction per student, so an interrupted run resumes with nothing lost or
duplicated. Submissions already graded with the same content and seed are not graded again.
"""

from __future__ import annotations

import os
import queue
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from . import collect, record, report
from .grader import Grader
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
            with Grader(run_seed, timeout=timeout) as grader:
                mode = grader.mode
                if mode == "basic":
                    print(BASIC_MODE_WARNING, file=sys.stderr)
                _grade_all(grader, todo, book, lanes or os.cpu_count() or 1, progress)
        report.write_all(book, out)
    finally:
        book.close()
    return BatchSummary(len(subs), len(todo), len(subs) - len(todo), mode, run_seed)


def _grade_all(
    grader: Grader, todo: list[Submission], book: record.Gradebook, lanes: int, show: bool
) -> None:
    work: queue.Queue[Submission | None] = queue.Queue()
    done: queue.Queue[Graded | BaseException] = queue.Queue()
    for sub in todo:
        work.put(sub)
    lanes = max(1, min(lanes, len(todo)))
    for _ in range(lanes):
        work.put(None)

    def lane(n: int) -> None:
        while (sub := work.get()) is not None:
            try:
                done.put(grader.grade(sub, lane=n))
            except (
                BaseException
            ) as e:  # the grader itself failed: stop the batch, keep what is saved
                done.put(e)
                return

    threads = [threading.Thread(target=lane, args=(n,), daemon=True) for n in range(lanes)]
    for t in threads:
        t.start()
    bar = report.Progress(len(todo), enabled=show)
    try:
        for _ in todo:
            item = done.get()
            if isinstance(item, BaseException):
                raise item
            book.save(item)
            bar.update(item.student)
    finally:
        bar.close()
        while not work.empty():  # let the lanes finish quickly if we stopped early
            try:
                work.get_nowait()
            except queue.Empty:
                break
