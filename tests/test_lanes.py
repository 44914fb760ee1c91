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
