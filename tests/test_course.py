"""The course file, submission times, late penalties and the history of attempts: unit tests of
autograder/course.py, then real autograde runs whose grades.csv, Canvas and Moodle exports are
read back as the LMS reads them."""

from __future__ import annotations

import csv
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder import ROOT, course
from autograder.grading.record import Gradebook

BERLIN_DUE = "2026-03-06T23:59:00+01:00"  # the due date of COURSE below, as an offset time
COURSE = """
[assignment]
due = 2026-03-06T23:59:00
timezone = "Europe/Berlin"

[late]
penalty_per_day = 10
max_penalty = 50
zero_after = 2026-03-13T23:59:00

[extensions]
eli = 2026-03-09T23:59:00
fay = 2
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_course_file_reads_due_date_in_its_time_zone_and_extensions() -> None:
    c = course.loads(COURSE)
    assert c.due == at(BERLIN_DUE)
    assert c.due_for("ada") == at(BERLIN_DUE)
    assert c.due_for("eli") == at("2026-03-09T23:59:00+01:00")
    assert c.due_for("fay") == at("2026-03-08T23:59:00+01:00")  # two days added


@pytest.mark.parametrize(
    ("late_by", "penalty"),
    [
        (timedelta(0), 0),  # at the due date exactly: on time
        (timedelta(seconds=1), 10),  # part of a day counts as a day
        (timedelta(days=1), 10),
        (timedelta(days=1, seconds=1), 20),
        (timedelta(days=4, hours=23), 50),  # 5 started days
        (timedelta(days=6, hours=1), 50),  # capped at max_penalty
        (timedelta(days=7, seconds=1), 100),  # after zero_after
    ],
)
def test_penalty_per_started_day_capped_and_zero_after_cutoff(
    late_by: timedelta, penalty: float
) -> None:
    c = course.loads(COURSE)
    lt = c.lateness("ada", at(BERLIN_DUE) + late_by)
    assert lt.penalty == penalty
    assert lt.late == (late_by > timedelta(0))


def test_extension_moves_the_due_date_and_the_cutoff() -> None:
    c = course.loads(COURSE)
    assert c.lateness("eli", at("2026-03-09T20:00:00+01:00")).penalty == 0
    assert c.lateness("ada", at("2026-03-09T20:00:00+01:00")).penalty == 30
    # ten days after eli's own due date: past the cutoff moved by the same three days
    assert c.lateness("eli", at("2026-03-16T23:00:00+01:00")).penalty == 50
    assert c.lateness("eli", at("2026-03-17T00:00:00+01:00")).penalty == 100


def test_unknown_time_costs_nothing_and_says_so() -> None:
    lt = course.loads(COURSE).lateness("ada", None)
    assert lt.penalty == 0 and "unknown" in lt.describe()


def test_after_penalty() -> None:
    assert course.after_penalty(86, 10) == 77.4
    assert course.after_penalty(98, 100) == 0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[late]\npenalty_per_day = 10\n", "[assignment] due = ... is missing"),
        ('[assignment]\ndue = 2026-03-06T23:59:00\ntimezone = "Mars/Olympus"\n', "'Mars/Olympus'"),
        ("[assignment]\ndue = 2026-03-06T23:59:00\n", "has no time zone"),
        ("[assignment]\ndue = 2026-03-06\n", "a date without a time: write 2026-03-06T23:59:00"),
        ('[assignment]\ndue = "next friday"\n', "'next friday' is not a date and time"),
        (
            "[assignment]\ndue = 2026-03-06T23:59:00Z\n[late]\npenalty_per_day = 150\n",
            "[late] penalty_per_day must be a percent from 0 to 100, not 150",
        ),
        (
            "[assignment]\ndue = 2026-03-06T23:59:00Z\n[late]\npenalty = 10\n",
            "[late] has unknown key(s) penalty",
        ),
        (
            "[assignment]\ndue = 2026-03-06T23:59:00Z\n[late]\nzero_after = 2026-03-01T00:00:00Z\n",
            "[late] zero_after is before the due date",
        ),
        (
            "[assignment]\ndue = 2026-03-06T23:59:00Z\n[extensions]\neli = 2026-03-01T00:00:00Z\n",
            "[extensions] eli is before the due date",
        ),
        (
            "[assignment]\ndue = 2026-03-06T23:59:00Z\n[extensions]\neli = -1\n",
            "[extensions] eli = -1: a number of days must be above 0",
        ),
        ("[assignment]\ndue = 2026-03-06T23:59:00Z\n[deadline]\n", "unknown section(s) deadline"),
        ("[assignment\n", "is not valid TOML"),
    ],
)
def test_bad_course_file_is_refused_with_what_to_fix(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "course.toml"
    path.write_text(text)
    with pytest.raises(course.CourseError) as e:
        course.load(path)
    assert says in str(e.value)
    assert str(path) in str(e.value)


def test_missing_course_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(course.CourseError, match=r"no-such\.toml"):
        course.load(tmp_path / "no-such.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-07 09:30:00.123456 UTC\n", "2026-03-07T09:30:00.123456+00:00"),  # nbgrader's
        ("2026-03-07 09:30:00", "2026-03-07T09:30:00+00:00"),  # no zone: UTC, as nbgrader
        ("2026-03-07T10:30:00+01:00", "2026-03-07T10:30:00+01:00"),
        ("2026-03-07T09:30:00Z", "2026-03-07T09:30:00+00:00"),
    ],
)
def test_timestamp_txt_formats(text: str, expected: str) -> None:
    assert course.parse_timestamp(text) == at(expected)


def test_submission_time_from_timestamp_else_newest_file(tmp_path: Path) -> None:
    folder = tmp_path / "ada"
    (folder / "exercises").mkdir(parents=True)
    old, new = folder / "exercises" / "a.py", folder / "exercises" / "b.py"
    old.write_text("")
    new.write_text("")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_600, 1_700_000_600))
    assert course.submission_time(folder) == (
        datetime.fromtimestamp(1_700_000_600, timezone.utc),
        "file times",
    )
    (folder / "timestamp.txt").write_text("2026-03-07 09:30:00 UTC\n")
    assert course.submission_time(folder) == (at("2026-03-07T09:30:00+00:00"), "timestamp.txt")
    (folder / "timestamp.txt").write_text("yesterday\n")
    os.utime(folder / "timestamp.txt", (1_700_000_000, 1_700_000_000))
    moment, source = course.submission_time(folder)
    assert moment == datetime.fromtimestamp(1_700_000_600, timezone.utc)
    assert source == "file times (timestamp.txt is not a time)"


# ---- real runs -------------------------------------------------------------------------------

ROSTER = (
    "student,name,email,lms_id\n"
    "ada,Ada,ada@example.edu,101\n"
    "cyd,Cyd,cyd@example.edu,103\n"
    "eli,Eli,eli@example.edu,105\n"
)
STAMPS = {  # late by 10 h 31 min (10%); before the due date; after it, within the extension
    "cyd": "2026-03-07 09:30:00 UTC",
    "ada": "2026-03-06 16:12:00 UTC",
    "eli": "2026-03-08 20:00:00 UTC",
}


def read_csv(path: Path) -> list[dict[str, str]]:
    """As an LMS reads an upload: UTF-8 (a BOM tolerated), the first row names the columns."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def attempts(out: Path) -> dict[str, list[tuple[str, str | None]]]:
    with closing(sqlite3.connect(out / "gradebook.sqlite")) as db:
        rows = db.execute("SELECT student, digest, submitted FROM attempts ORDER BY rowid")
        found: dict[str, list[tuple[str, str | None]]] = {}
        for student, digest, submitted in rows:
            found.setdefault(student, []).append((digest, submitted))
    return found


@pytest.mark.slow  # real autograde runs, then the export CLI, as subprocesses
def test_late_on_time_and_extended_students_through_grades_and_exports(tmp_path: Path) -> None:
    from tests.test_autograde_cli import autograde, copy_class
    from tests.test_export import run_export

    subs = copy_class(tmp_path, ["ada", "cyd", "eli"])
    for student, stamp in STAMPS.items():
        (subs / student / "timestamp.txt").write_text(stamp + "\n")
    (tmp_path / "course.toml").write_text(COURSE)
    out = tmp_path / "out"
    run = autograde(subs, out, "--course", str(tmp_path / "course.toml"))
    assert run.returncode == 0, run.stderr[-3000:]
    said = run.stdout.splitlines()
    assert "late: cyd late by 10 h 31 min: 10% off (grades.csv, feedback and exports apply it)" in (
        said
    )
    assert "on time within an extension: eli" in said

    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert rows["cyd"]["submitted"] == "2026-03-07T10:30:00+01:00"  # in the course's zone
    assert rows["cyd"]["late_by"] == "10 h 31 min"
    assert rows["cyd"]["penalty_percent"] == "10"
    cyd_total = float(rows["cyd"]["total"])  # the points before the penalty stay
    assert 0 < cyd_total < 100
    assert float(rows["cyd"]["total_after_penalty"]) == pytest.approx(cyd_total * 0.9)
    for on_time in ("ada", "eli"):
        assert rows[on_time]["late_by"] == "" and rows[on_time]["penalty_percent"] == "0"
        assert rows[on_time]["total_after_penalty"] == rows[on_time]["total"]
    feedback = (out / "feedback" / "cyd.md").read_text()
    assert "late by 10 h 31 min" in feedback and "Late penalty: 10%" in feedback
    assert "on time" in (out / "feedback" / "eli.md").read_text()
    assert "due 2026-03-09 23:59+01:00" in (out / "feedback" / "eli.md").read_text()
    page = (out / "report.html").read_text()
    assert "Submission times and attempts" in page and "10% off" in page

    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    canvas = run_export(out, "--format", "canvas", "--total-only", "--roster", str(roster))
    assert canvas.returncode == 0, canvas.stderr
    assert "late, exported after the penalty: cyd 10%" in canvas.stdout
    totals = {r["ID"]: r["Self-attention"] for r in read_csv(out / "exports" / "canvas.csv")}
    assert float(totals["103"]) == pytest.approx(cyd_total * 0.9)
    assert totals["101"] == rows["ada"]["total"] and totals["105"] == rows["eli"]["total"]
    moodle = run_export(out, "--format", "moodle", "--roster", str(roster))
    assert moodle.returncode == 0, moodle.stderr
    by_email = {r["Email address"]: r for r in read_csv(out / "exports" / "moodle.csv")}
    cyd_cells = [float(v) for k, v in by_email["cyd@example.edu"].items() if k.startswith("Self")]
    assert sum(cyd_cells) == pytest.approx(cyd_total * 0.9, abs=0.01)

    # history: cyd hands in new bytes, later; the same bytes again make no new attempt
    first = attempts(out)
    assert {s: len(a) for s, a in first.items()} == {"ada": 1, "cyd": 1, "eli": 1}
    module = next((subs / "cyd" / "exercises").glob("*.py"))
    module.write_text(module.read_text() + "\n# handed in again\n")
    (subs / "cyd" / "timestamp.txt").write_text("2026-03-08 09:00:00 UTC\n")
    again = autograde(subs, out)  # the course file stays in the gradebook
    assert again.returncode == 0, again.stderr[-3000:]
    assert autograde(subs, out).returncode == 0  # nothing changed: no new attempt
    second = attempts(out)
    assert {s: len(a) for s, a in second.items()} == {"ada": 1, "cyd": 2, "eli": 1}
    assert second["cyd"][0] == first["cyd"][0]
    assert second["cyd"][1][1] == "2026-03-08T09:00:00+00:00"
    assert second["cyd"][1][0] != first["cyd"][0][0]
    with Gradebook(out / "gradebook.sqlite") as book:  # each attempt's own bytes are kept
        before = book.attempt_sources("cyd", first["cyd"][0][0])
        after = book.attempt_sources("cyd", second["cyd"][1][0])
    assert before is not None and after is not None
    assert after[module.stem] == module.read_text()
    assert before[module.stem] + "\n# handed in again\n" == module.read_text()
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert rows["cyd"]["penalty_percent"] == "20"  # now late by 1 day 10 h
    page = (out / "report.html").read_text()
    section = page.split('<section class="attempts" data-student="cyd">')[1].split("</section>")[0]
    assert section.index("2026-03-08T09:00:00") < section.index("2026-03-07T09:30:00")


@pytest.mark.slow  # the CLI as a subprocess
def test_bad_course_file_stops_before_grading(tmp_path: Path) -> None:
    from tests.test_autograde_cli import autograde, copy_class

    subs = copy_class(tmp_path, ["ada"])
    (tmp_path / "course.toml").write_text("[assignment]\ndue = 2026-03-06T23:59:00\n")
    run = autograde(subs, tmp_path / "out", "--course", str(tmp_path / "course.toml"))
    assert run.returncode == 2
    assert "has no time zone" in run.stderr and "course.toml" in run.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_demo_course_file_and_sample_class_show_lateness() -> None:
    """examples/course.toml is valid, and the sample class has a late student, one on time
    only thanks to an extension, and the rest on time."""
    c = course.load(ROOT / "examples" / "course.toml")
    subs = ROOT / "examples" / "submissions"
    late = {}
    for folder in sorted(subs.iterdir()):
        moment, source = course.submission_time(folder)
        assert source == "timestamp.txt", folder.name
        late[folder.name] = c.lateness(folder.name, moment).penalty
    assert late["cyd"] == 10 and late["gus"] == 30
    assert late["eli"] == 0 and c.lateness("ada", course.submission_time(subs / "eli")[0]).late
    assert sum(1 for p in late.values() if p) == 2


def test_gradescope_time_replaces_the_uploads_own_timestamp(tmp_path: Path) -> None:
    """Gradescope's created_at becomes the staged timestamp.txt; one in the upload is dropped."""
    from autograder import gradescope

    staged = tmp_path / "submissions" / "submission"
    staged.mkdir(parents=True)
    (staged / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC\n")  # the student's claim
    (staged / "exercises").mkdir()
    (staged / "exercises" / "simple_attention.py").write_text("")
    (staged / "exercises" / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC\n")
    assert gradescope.stamp(tmp_path, staged) is None  # no metadata: no time, no claim kept
    assert course.submission_time(staged)[1] == "file times"
    (staged / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC\n")
    (tmp_path / "submission_metadata.json").write_text(
        '{"id": 1, "created_at": "2026-03-07T01:22:32.365935-08:00", "assignment": {}}'
    )
    assert gradescope.stamp(tmp_path, staged) == "2026-03-07T01:22:32-08:00"
    assert course.submission_time(staged) == (
        at("2026-03-07T09:22:32+00:00"),
        "timestamp.txt",
    )


def test_nbgrader_layout_timestamp_one_folder_down(tmp_path: Path) -> None:
    """nbgrader's submitted/<student>/<assignment>/timestamp.txt is the student's time."""
    folder = tmp_path / "ada" / "attention"
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-03-07 09:30:00.000000 UTC\n")
    assert course.submission_time(tmp_path / "ada") == (
        at("2026-03-07T09:30:00+00:00"),
        "timestamp.txt",
    )
