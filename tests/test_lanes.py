"""The batch's lane supervisor (batch._grade_all) with stand-in lanes (tests/lane_doubles.py):
a lane that dies or whose grading raises is replaced and its submission graded again once, then
saved with one line; only a lane that cannot start stops the batch. Real lanes killed from
outside: tests/test_faults.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lane_doubles
import pytest

from autograder.grading import batch, record
from autograder.grading.model import Graded, Submission

SEED = 7


def submissions(tmp_path: Path, *students: str) -> list[Submission]:
    subs = []
    for student in students:
        (tmp_path / student).mkdir()
        subs.append(Submission(student, tmp_path / student, digest=f"digest-{student}"))
    return subs


def grade(
    tmp_path: Path, todo: list[Submission], target: Callable[..., None], lanes: int = 2
) -> dict[str, Graded]:
    book = record.Gradebook(tmp_path / "out" / "gradebook.sqlite")
    try:
        batch._grade_all(todo, book, SEED, 10.0, None, lanes, False, target=target)
        return {g.student: g for g in book.latest()}
    finally:
        book.close()


def test_dead_and_failing_lanes_are_replaced_and_everyone_is_saved(tmp_path: Path) -> None:
    """With lanes dying under some submissions and raising on another, is every student saved
    once: the ordinary ones and the one whose lane died only once graded, the others saved with
    one line and a digest that makes the next run grade them again?"""
    todo = submissions(tmp_path, "ada", "dies_bob", "once_cyd", "raises_dan", "eve", "fay")
    saved = grade(tmp_path, todo, lane_doubles.lane)
    assert sorted(saved) == sorted(s.student for s in todo)
    for student in ("ada", "once_cyd", "eve", "fay"):
        assert saved[student].digest == f"digest-{student}" and saved[student].errors == []
    assert (tmp_path / "once_cyd" / "died-once").exists()
    assert saved["dies_bob"].errors == [
        "grading stopped twice on this submission (the grader's process ended with exit code "
        "3): it scores 0 for now and is graded again on the next run"
    ]
    assert saved["raises_dan"].errors == [
        "grading stopped twice on this submission (the grader's process raised ValueError: a "
        "fault in the grader): it scores 0 for now and is graded again on the next run"
    ]
    for student in ("dies_bob", "raises_dan"):
        assert saved[student].digest == batch.UNFINISHED + f"digest-{student}"
        assert saved[student].checks == []


def test_a_lane_whose_self_test_fails_stops_the_batch(tmp_path: Path) -> None:
    """Is a lane that reports its reference self-test failed the end of the batch, with its
    line, and no student saved?"""
    todo = submissions(tmp_path, "ada", "bob")
    with pytest.raises(batch.LaneFailed, match="reference solutions do not get full marks"):
        grade(tmp_path, todo, lane_doubles.broken)
    book = record.Gradebook(tmp_path / "out" / "gradebook.sqlite")
    assert book.latest() == []
    book.close()


def test_a_lane_that_never_starts_stops_the_batch(tmp_path: Path) -> None:
    """Is a lane that dies before it is ready, LANE_STARTS times in a row, the end of the batch
    rather than a loop of restarts?"""
    todo = submissions(tmp_path, "ada")
    with pytest.raises(batch.LaneFailed, match=f"{batch.LANE_STARTS} times before grading anyone"):
        grade(tmp_path, todo, lane_doubles.never_starts, lanes=1)


def test_lanes_started_before_the_class_is_read_grade_it_then_all_stop(tmp_path: Path) -> None:
    """Lanes started ahead (as autograde starts them while it reads the submissions), more of
    them than students: is everyone saved once, and is every lane process gone afterwards?"""
    todo = submissions(tmp_path, "ada", "bob")
    pool = {n: batch._start_lane(n, SEED, 10.0, None, lane_doubles.lane) for n in range(4)}
    procs = [lane.proc for lane in pool.values()]
    book = record.Gradebook(tmp_path / "out" / "gradebook.sqlite")
    try:
        batch._grade_all(todo, book, SEED, 10.0, None, 4, False, pool=pool)
        assert sorted(g.student for g in book.latest()) == ["ada", "bob"]
    finally:
        book.close()
    assert pool == {} and not any(p.is_alive() for p in procs)
    assert all(p.exitcode is not None for p in procs)


def test_lanes_started_for_a_class_with_nothing_to_grade_are_stopped() -> None:
    """When nothing is left to grade, are lanes started ahead stopped (killed mid-start)?"""
    pool = {n: batch._start_lane(n, SEED, 10.0, None, lane_doubles.slow_start) for n in range(2)}
    procs = [lane.proc for lane in pool.values()]
    batch._stop_lanes(pool)
    assert pool == {} and [p.exitcode for p in procs] == [-9, -9]


def test_a_lane_starts_with_ctrl_c_left_to_the_main_process() -> None:
    """Does a lane process start with SIGINT ignored (a Ctrl-C while it imports prints nothing
    of its own), and does the main process keep its own handler?"""
    import signal

    # Python's own handler, as a terminal's run has it: a run started with SIGINT ignored
    # (some test runners do) would hand that on to the lane and pass for the wrong reason
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    pool = {}
    try:
        pool = {0: batch._start_lane(0, SEED, 10.0, None, lane_doubles.says_sigint)}
        assert pool[0].conn.recv() == ("sigint", True)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        batch._stop_lanes(pool)
        signal.signal(signal.SIGINT, previous)
