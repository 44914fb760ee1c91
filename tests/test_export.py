"""LMS exports end to end: `attention-kit export` as a subprocess on a real gradebook, the CSV
read back the way Canvas and Moodle read it; the roster's format; grades.csv's extra columns;
students gone from SUBMISSIONS marked everywhere."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.grading import report, roster
from autograder.grading.model import CheckResult, Graded
from autograder.grading.record import Gradebook
from learner import manifest

EXERCISES = manifest.load()
TOTAL = sum(e.points for e in EXERCISES)  # from the manifest, not written out
SIMPLE = sum(e.points for e in EXERCISES if e.module == "simple_attention")
IDS = [e.id for e in EXERCISES]


def graded(student: str, lost: tuple[str, ...] = (), errors: tuple[str, ...] = ()) -> Graded:
    """Full points except the exercises in `lost`."""
    checks = [
        CheckResult(e.id, f"test_{e.id}", e.points, 0.0 if e.id in lost else e.points)
        for e in EXERCISES
    ]
    return Graded(student, f"d-{student}", 42, checks, list(errors), "", 1.0, 2.0)


def lost_points(*ids: str) -> float:
    return sum(e.points for e in EXERCISES if e.id in ids)


ROSTER = (
    "Student,Name,Email,LMS_ID,Section\n"  # any case, an extra column ignored
    'ada,"Lovelace, Ada",ada@example.edu,101,A\n'
    "ben,Ben Bit,ben@example.edu,102,A\n"
    "zoe,Zoe Zero,zoe@example.edu,,B\n"  # on the roster, never submitted, no LMS id
    "\n"
)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A graded OUT: ada (full), ben (lost two exercises), cyd (not on the roster)."""
    out = tmp_path / "out"
    with Gradebook(out / "gradebook.sqlite") as book:
        book.save(graded("ada"))
        book.save(graded("ben", ("softmax_stable", "causal_mask"), ("a problem",)))
        book.save(graded("cyd"))
        book.set_seed(1234)
        book.set_collected(["ada", "ben", "cyd"])
        report.write_all(book, out)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8-sig")  # as Excel saves it
    return out


def run_export(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder.cli", "export", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    """As an LMS reads an upload: UTF-8 (a BOM tolerated), the first row names the columns."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # the CLI as a subprocess
def test_canvas_export_reads_back_as_canvas_reads_it(out: Path) -> None:
    """Does the Canvas CSV have Canvas's student columns, a Points Possible row that gives
    every column's points, and each roster student's points under their Canvas ID?"""
    proc = run_export(out, "--format", "canvas", "--roster", str(out.parent / "roster.csv"))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "exports" / "canvas.csv")
    header = list(rows[0])
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    titles = [f"Self-attention: {e.id}" for e in EXERCISES]
    assert header[5:] == titles
    possible, *students = rows
    assert possible["Student"].strip() == "Points Possible"
    assert {t: float(possible[t]) for t in titles} == {
        f"Self-attention: {e.id}": e.points for e in EXERCISES
    }
    by_id = {r["ID"]: r for r in students}
    assert set(by_id) == {"101", "102", ""}
    assert by_id["101"]["Student"] == "Lovelace, Ada"
    assert sum(float(by_id["101"][t]) for t in titles) == TOTAL
    ben = by_id["102"]
    assert float(ben["Self-attention: softmax_stable"]) == 0
    assert sum(float(ben[t]) for t in titles) == TOTAL - lost_points(
        "softmax_stable", "causal_mask"
    )
    assert all(by_id[""][t] == "" for t in titles)  # zoe: blank, Canvas keeps what it has
    assert "not on the roster" in proc.stdout and "cyd" in proc.stdout
    assert "no graded submission" in proc.stdout and "zoe" in proc.stdout
    notes = (out / "exports" / "canvas-notes.txt").read_text()
    assert "cyd" in notes and "zoe" in notes


@pytest.mark.slow  # the CLI as a subprocess
def test_moodle_total_only_reads_back_as_moodle_reads_it(out: Path) -> None:
    """Does the Moodle CSV (total only) carry one row per roster student, identified by email
    and ID number, with the total as a plain number?"""
    dest = out.parent / "upload.csv"
    proc = run_export(
        out,
        "--format",
        "moodle",
        "--total-only",
        "--assignment",
        "Attention",
        "--to",
        str(dest),
        "--roster",
        str(out.parent / "roster.csv"),
    )
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(dest)
    assert list(rows[0]) == ["ID number", "Email address", "Full name", "Attention"]
    by_email = {r["Email address"]: r for r in rows}
    assert set(by_email) == {"ada@example.edu", "ben@example.edu", "zoe@example.edu"}
    assert float(by_email["ada@example.edu"]["Attention"]) == TOTAL
    ben = float(by_email["ben@example.edu"]["Attention"])
    assert ben == TOTAL - lost_points("softmax_stable", "causal_mask")
    assert by_email["ben@example.edu"]["ID number"] == "102"
    assert by_email["zoe@example.edu"]["Attention"] == ""
    assert (out.parent / "upload-notes.txt").exists()


@pytest.mark.slow  # the CLI as a subprocess
def test_student_removed_from_submissions_is_marked_everywhere(out: Path) -> None:
    """After a run that no longer finds ben, is ben kept but marked in grades.json, grades.csv,
    the terminal gradebook, report.html and the export's notes?"""
    with Gradebook(out / "gradebook.sqlite") as book:
        book.set_collected(["ada", "cyd"])
        report.write_all(book, out)
        table = report.gradebook_table(book)
    students = json.loads((out / "grades.json").read_text())["students"]
    assert students["ben"]["status"] == report.GONE
    assert students["ada"]["status"] == "graded"
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert rows["ben"]["status"] == report.GONE and rows["cyd"]["status"] == "graded"
    assert [line.split()[0] for line in table.splitlines() if report.GONE in line] == ["ben"]
    page = (out / "report.html").read_text()
    ben_row = next(line for line in page.splitlines() if 'data-student="ben"' in line)
    assert report.GONE in ben_row
    proc = run_export(out, "--format", "canvas", "--roster", str(out.parent / "roster.csv"))
    assert proc.returncode == 0, proc.stderr
    gone_line = next(line for line in proc.stdout.splitlines() if report.GONE in line)
    assert "ben" in gone_line and "ada" not in gone_line
    # still exported with its grade: the instructor decides
    ben = next(r for r in read_csv(out / "exports" / "canvas.csv") if r["ID"] == "102")
    assert float(ben["Self-attention: attention_scores"]) > 0


def test_grades_csv_has_errors_seed_and_date(out: Path) -> None:
    """Does grades.csv end with total, errors (one per line), seed, graded_at and status?"""
    rows = read_csv(out / "grades.csv")
    assert list(rows[0]) == ["student", *IDS, "total", "errors", "seed", "graded_at", "status"]
    ben = next(r for r in rows if r["student"] == "ben")
    assert ben["errors"] == "a problem" and ben["seed"] == "1234"
    with Gradebook(out / "gradebook.sqlite") as book:
        assert ben["graded_at"] == book.graded_at()["ben"]
    assert ben["graded_at"].startswith("20") and "T" in ben["graded_at"]


def test_before_any_collection_nobody_is_gone(tmp_path: Path) -> None:
    """A gradebook from before runs recorded what they collected marks nobody."""
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.save(graded("ada"))
        assert book.gone() == set() and not book.latest()[0].gone


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("student,name,email\nada,A,a@x\n", "no column lms_id"),
        ("student,name,email,lms_id\nada,A,a@x,1\nada,B,b@x,2\n", "line 3"),
        ("student,name,email,lms_id\n,A,a@x,1\n", "line 2 has no student id"),
        ("", "empty"),
        ("student,name,email,lms_id\nada,A,a@x,1\nben,B,b@x,1\n", "lms_id '1' is also ada's"),
        ("student,name,email,lms_id\nada,A,a@x,1\nben,B,a@x,2\n", "email 'a@x' is also ada's"),
    ],
)
def test_bad_roster_is_refused_with_the_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(roster.RosterError, match=says):
        roster.load(path)


@pytest.mark.slow  # the CLI as a subprocess
def test_bad_roster_and_missing_gradebook_exit_2(out: Path, tmp_path: Path) -> None:
    """Does the CLI say what is wrong, write nothing, and exit 2?"""
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("student,name,email,lms_id\nada,Zoë,z@x,1\n".encode("latin-1"))
    proc = run_export(out, "--format", "moodle", "--roster", str(bad))
    assert proc.returncode == 2 and "not UTF-8" in proc.stderr
    empty = tmp_path / "empty_out"
    proc = run_export(empty, "--format", "moodle", "--roster", str(out.parent / "roster.csv"))
    assert proc.returncode == 2 and "no gradebook" in proc.stderr
    assert not empty.exists()  # no gradebook created by looking for one
    assert not (out / "exports").exists()


@pytest.mark.slow
def test_real_runs_mark_a_removed_student_and_export_them(tmp_path: Path) -> None:
    """Two real autograde runs, ben's entry removed before the second: ben is kept, marked in
    the terminal, grades.csv and the export; the terminal names the similar pair."""
    from tests.test_autograde_cli import autograde, copy_class

    subs = copy_class(tmp_path, ["ada", "ben", "nat", "oli"])
    out = tmp_path / "out"
    first = autograde(subs, out)
    assert first.returncode == 0, first.stderr[-3000:]
    assert report.GONE not in first.stdout
    assert "similar submissions: nat and oli" in first.stdout
    shutil.rmtree(subs / "ben")
    second = autograde(subs, out)
    assert second.returncode == 0, second.stderr[-3000:]
    ben_line = next(line for line in second.stdout.splitlines() if line.startswith("ben "))
    assert report.GONE in ben_line
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert rows["ben"]["status"] == report.GONE and rows["ben"]["total"] == f"{SIMPLE:g}"
    assert rows["ada"]["status"] == "graded" and rows["ada"]["seed"] == rows["ben"]["seed"]
    roster_csv = tmp_path / "roster.csv"
    roster_csv.write_text(
        "student,name,email,lms_id\nada,Ada,ada@x,1\nben,Ben,ben@x,2\nnat,Nat,nat@x,3\n"
    )
    proc = run_export(out, "--format", "canvas", "--total-only", "--roster", str(roster_csv))
    assert proc.returncode == 0, proc.stderr
    totals = {r["ID"]: r["Self-attention"] for r in read_csv(out / "exports" / "canvas.csv")}
    full, ben = f"{TOTAL:g}", f"{SIMPLE:g}"  # ben: simple_attention only
    assert totals == {"": full, "1": full, "2": ben, "3": full}  # "": Points Possible
    assert any(report.GONE in line and "ben" in line for line in proc.stdout.splitlines())
    assert any("not on the roster" in line and "oli" in line for line in proc.stdout.splitlines())


def test_sample_roster_matches_the_sample_class() -> None:
    """examples/roster.csv (the README's example) names the sample class but mal, plus pia who
    handed in nothing: both kinds of note show on make demo's gradebook."""
    people = roster.load(ROOT / "examples" / "roster.csv")
    sample = {p.name for p in (ROOT / "examples" / "submissions").iterdir()}
    assert set(people) - sample == {"pia"}
    assert sample - set(people) == {"mal"}
    assert all(e.lms_id and e.email and e.name for e in people.values())
