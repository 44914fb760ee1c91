"""attention-kit autograde end to end: real subprocesses, a real class folder, a real OUT.

Hostile code here is the sample class's `mal` (it exits and prints fakes), bounded like the rest
by the sandbox; the kill test bounds itself with timeouts.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import ROOT
from learner import manifest

pytestmark = pytest.mark.slow  # the real CLI on whole batches

CLASS = ROOT / "examples" / "submissions"
RUN_TIMEOUT = 240  # seconds for one autograde run of a small class
IDS = [e.id for e in manifest.load()]
TOTAL = sum(e.points for e in manifest.load())  # the curriculum's numbers, from the manifest
POINTS = {e.id: e.points for e in manifest.load()}


def module_points(module: str) -> float:
    return sum(e.points for e in manifest.load() if e.module == module)


SEED = 20261124


def autograde(
    subs: Path, out: Path, *extra: str, seed: int = SEED, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`attention-kit autograde --quiet` on `subs` into `out`, as a subprocess of the kit's."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.cli",
            "autograde",
            "--quiet",
            "--submissions",
            str(subs),
            "--out",
            str(out),
            "--seed",
            str(seed),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def copy_class(tmp: Path, students: list[str]) -> Path:
    subs = tmp / "submissions"
    for s in students:
        shutil.copytree(CLASS / s, subs / s)
    return subs


def totals(out: Path) -> dict[str, float]:
    grades = json.loads((out / "grades.json").read_text())
    return {s: v["total"] for s, v in grades["students"].items()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    tmp = tmp_path_factory.mktemp("class")
    subs = copy_class(tmp, ["ada", "ben", "cyd", "ivy", "kim", "mal"])
    out = tmp / "out"
    proc = autograde(subs, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return subs, out, proc.stdout


def test_every_output_is_written(graded_class: tuple[Path, Path, str]) -> None:
    """Does one run write grades.json, grades.csv, the gradebook, results, feedback and
    report.html?"""
    _, out, _ = graded_class
    grades = json.loads((out / "grades.json").read_text())
    assert list(grades["max_points"]) == IDS
    students = ["ada", "ben", "cyd", "ivy", "kim", "mal"]
    assert sorted(grades["students"]) == students
    for s in students:
        assert list(grades["students"][s]["points"]) == IDS
        results = json.loads((out / "results" / f"{s}.json").read_text())
        assert {"score", "tests"} <= set(results)
        assert (out / "feedback" / f"{s}.md").read_text().startswith(f"# Feedback for {s}")
        assert f"<h1>Feedback for {s}</h1>" in (out / "feedback" / f"{s}.html").read_text()
    page = (out / "report.html").read_text()
    assert page.count('<g class="bar"') == len(IDS)
    assert page.count("<tr data-student=") == len(students)
    with open(out / "grades.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["student", *IDS, "total", "errors", "seed", "graded_at", "status"]
    assert (out / "gradebook.sqlite").stat().st_size > 0


def test_grades_match_what_each_student_wrote(graded_class: tuple[Path, Path, str]) -> None:
    """Do the reference, the partial, the mistaken, the unstarted, the broken and the hostile
    submission each get what they earned?"""
    _, out, stdout = graded_class
    got = totals(out)
    assert got["ada"] == TOTAL  # complete
    assert got["ben"] == module_points("simple_attention")  # simple_attention only
    assert got["ivy"] == 0  # the stubs
    assert got["kim"] == TOTAL - module_points("causal_attention") - module_points(
        "multihead_attention"
    )  # causal_attention.py does not parse; multihead imports it
    grades = json.loads((out / "grades.json").read_text())["students"]
    cyd = grades["cyd"]["points"]  # d_k instead of sqrt(d_k) in scaled_attention_weights
    assert (
        cyd["scaled_attention_weights"] == 0
        and cyd["attention_scores"] == POINTS["attention_scores"]
    )
    mal = grades["mal"]["points"]  # exits inside attention_scores, fakes a summary at import
    assert mal["attention_scores"] == 0
    assert all(mal[e] == p for e, p in grades["ada"]["points"].items() if e != "attention_scores")
    assert "12 students" not in stdout and "6 students" in stdout


def test_hostile_output_never_reaches_the_grader_terminal(
    graded_class: tuple[Path, Path, str],
) -> None:
    """Does mal's fake "21 passed" stay in mal's feedback, out of the instructor's terminal?"""
    _, out, stdout = graded_class
    assert "21 passed" not in stdout
    assert "21 passed" in (out / "feedback" / "mal.md").read_text()


def test_rerun_grades_only_changed_submissions(
    graded_class: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Does a second run skip unchanged students and regrade exactly the one who resubmitted?"""
    subs, out, _ = graded_class
    subs2, out2 = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(subs, subs2)
    shutil.copytree(out, out2)
    again = autograde(subs2, out2)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 graded, 6 unchanged" in again.stdout
    shutil.rmtree(subs2 / "ivy")
    shutil.copytree(CLASS / "ada", subs2 / "ivy")  # ivy finishes everything
    third = autograde(subs2, out2)
    assert "1 graded, 5 unchanged" in third.stdout
    assert totals(out2)["ivy"] == TOTAL
