"""`attention-kit handback` end to end: a real gradebook, the command as a subprocess, every
student's folder or zip read back."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.grading import handback, report
from autograder.grading.model import CheckResult, Graded
from autograder.grading.record import Gradebook
from learner import manifest

pytestmark = pytest.mark.slow  # the CLI as a subprocess

EXERCISES = manifest.load()


def graded(student: str, lost: str = "", printed: str = "") -> Graded:
    checks = [
        CheckResult(
            e.id,
            f"test_{e.id}",
            e.points,
            0.0 if e.id == lost else e.points,
            f"{student}'s {e.id} is wrong" if e.id == lost else "",
        )
        for e in EXERCISES
    ]
    return Graded(student, f"d-{student}", 7, checks, [], printed, 1.0, 2.0)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    with Gradebook(out / "gradebook.sqlite") as book:
        book.save(graded("ada", printed="hello from ada"))
        book.save(graded("ben", lost="softmax_stable"))
        book.save(graded("cyd", lost="causal_mask"))
        book.set_collected(["ada", "ben"])  # cyd's entry has since been removed
        report.write_all(book, out)
    return out


def run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder.cli", "handback", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_a_folder_per_student_holds_their_feedback_and_results(out: Path) -> None:
    """Does every student's folder hold exactly their feedback page, its Markdown and their
    results, equal to what OUT shows for them and naming no other student?"""
    proc = run(out)
    assert proc.returncode == 0, proc.stderr
    back = out / "handback"
    assert sorted(p.name for p in back.iterdir()) == ["ada", "ben", "cyd"]
    for student in ("ada", "ben", "cyd"):
        folder = back / student
        assert sorted(p.name for p in folder.iterdir()) == sorted(handback.FILES)
        md = (folder / "feedback.md").read_text()
        assert md == (out / "feedback" / f"{student}.md").read_text()
        page = (folder / "feedback.html").read_text()
        assert page == (out / "feedback" / f"{student}.html").read_text()
        results = json.loads((folder / "results.json").read_text())
        assert results == json.loads((out / "results" / f"{student}.json").read_text())
        others = {"ada", "ben", "cyd"} - {student}
        for name in handback.FILES:
            text = (folder / name).read_text()
            assert not any(f"{o}'s" in text or f"from {o}" in text for o in others), name
    assert "ben's softmax_stable is wrong" in (back / "ben" / "feedback.md").read_text()
    assert json.loads((back / "ben" / "results.json").read_text())["score"] == sum(
        e.points for e in EXERCISES
    ) - next(e.points for e in EXERCISES if e.id == "softmax_stable")
    assert "no longer in SUBMISSIONS" in proc.stdout and "cyd" in proc.stdout


def test_zips_hold_the_same_files(out: Path, tmp_path: Path) -> None:
    """Does --zip write one zip per student with the same three files as the folders?"""
    assert run(out).returncode == 0
    dest = tmp_path / "zips"
    proc = run(out, "--zip", "--to", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["ada.zip", "ben.zip", "cyd.zip"]
    for student in ("ada", "ben", "cyd"):
        with zipfile.ZipFile(dest / f"{student}.zip") as z:
            assert sorted(z.namelist()) == sorted(handback.FILES)
            for name in handback.FILES:
                assert z.read(name) == (out / "handback" / student / name).read_bytes()


def test_one_student_and_unknown_ids(out: Path) -> None:
    proc = run(out, "--student", "ben")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (out / "handback").iterdir()] == ["ben"]
    proc = run(out, "--student", "ben", "--student", "zed")
    assert proc.returncode == 2 and "not in the gradebook: zed" in proc.stderr


def test_no_gradebook_exits_2(tmp_path: Path) -> None:
    proc = run(tmp_path / "nothing")
    assert proc.returncode == 2 and "no gradebook" in proc.stderr
    assert not (tmp_path / "nothing").exists()
