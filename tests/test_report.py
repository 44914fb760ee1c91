"""report: the exports made from the gradebook, the terminal summary and the progress line."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path

import pytest

from autograder.grading import report
from autograder.grading.model import CheckResult, Graded
from autograder.grading.record import Gradebook
from autograder.grading.report import OutNotWritable, Progress
from learner import manifest

EXERCISES = manifest.load()
IDS = [e.id for e in EXERCISES]
POINTS = {e.id: e.points for e in EXERCISES}
TOTAL = sum(POINTS.values())
TITLES = {e.id: e.title for e in EXERCISES}


def full_marks(student: str) -> Graded:
    """Two checks per exercise (a public and a hidden half), all passed."""
    checks = []
    for e in EXERCISES:
        half = e.points / 2
        checks += [
            CheckResult(e.id, f"test_{e.id}_public", half, half, hidden=False),
            CheckResult(e.id, f"test_{e.id}_hidden", half, half, hidden=True),
        ]
    return Graded(student, f"digest-{student}", 7, checks, [], "", 10.0, 12.25)


def losing(student: str, failed: dict[str, str], errors: list[str] | None = None) -> Graded:
    """Full marks except the hidden half of each exercise in `failed` (id -> message)."""
    g = full_marks(student)
    for c in g.checks:
        if c.exercise in failed and c.hidden:
            c.points, c.message = 0.0, failed[c.exercise]
    g.errors = list(errors or [])
    return g


def book_with(tmp_path: Path, *graded: Graded) -> Gradebook:
    book = Gradebook(tmp_path / "out" / "gradebook.sqlite")
    for g in graded:
        book.save(g)
    return book


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


# ---- grades.json and grades.csv ------------------------------------------------------------


def test_grades_json_has_every_exercise_for_every_student(tmp_path: Path, out: Path) -> None:
    """Does grades.json list every exercise id for every student, in teaching order?"""
    missing = "exercises/causal_attention.py is missing: causal_mask, ... score 0"
    nothing = Graded("carol", "d", 7, errors=["2 submissions for carol: none was graded"])
    lost = losing("bob", {"softmax_stable": "nan at [0, 1]"}, [missing])
    with book_with(tmp_path, full_marks("alice"), lost, nothing) as book:
        report.write_all(book, out)
    doc = json.loads((out / "grades.json").read_text())
    assert list(doc) == ["max_points", "students"]
    assert list(doc["max_points"]) == IDS
    assert sum(doc["max_points"].values()) == TOTAL
    assert list(doc["students"]) == ["alice", "bob", "carol"]
    for entry in doc["students"].values():
        assert list(entry) == ["points", "total", "errors", "status"]
        assert list(entry["points"]) == IDS
    assert doc["students"]["alice"] == {
        "points": POINTS,
        "total": TOTAL,
        "errors": [],
        "status": "graded",
    }
    assert doc["students"]["bob"]["points"]["softmax_stable"] == POINTS["softmax_stable"] / 2
    assert doc["students"]["bob"]["total"] == TOTAL - POINTS["softmax_stable"] / 2
    assert doc["students"]["bob"]["errors"] == [missing]
    assert doc["students"]["carol"]["points"] == dict.fromkeys(IDS, 0)
    assert doc["students"]["carol"]["total"] == 0


def test_grades_csv_columns_and_formula_injection(tmp_path: Path, out: Path) -> None:
    """Is the csv header student, ids in teaching order, total, and can no id become a formula?"""
    students = ["-2", "@sum", "alice"]
    with book_with(tmp_path, *(full_marks(s) for s in students)) as book:
        report.write_all(book, out)
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", *IDS, "total", "errors", "seed", "graded_at", "status"]
    assert [r[0] for r in rows[1:]] == ["'-2", "'@sum", "alice"]
    assert rows[3][1 : len(IDS) + 3] == [f"{POINTS[i]:g}" for i in IDS] + [f"{TOTAL:g}", ""]
    assert (out / "results" / "-2.json").exists()  # the file name keeps the real id
    assert [report._cell(t) for t in ("=1+1", "+1", "\tx", "a=b")] == [
        "'=1+1",
        "'+1",
        "'\tx",
        "a=b",
    ]


# ---- results.json (Gradescope) -------------------------------------------------------------


def test_results_json_follows_gradescope_schema(tmp_path: Path, out: Path) -> None:
    """Does results/<student>.json have Gradescope's fields, one test per exercise?"""
    g = losing("bob", {"CausalAttention": "shape (2, 3), expected (2, 6, 3)"}, ["a problem"])
    with book_with(tmp_path, g) as book:
        report.write_all(book, out)
    doc = json.loads((out / "results" / "bob.json").read_text())
    assert set(doc) == {
        "score",
        "execution_time",
        "output",
        "visibility",
        "stdout_visibility",
        "tests",
    }
    assert doc["score"] == TOTAL - POINTS["CausalAttention"] / 2
    assert doc["execution_time"] == 2.25
    assert doc["visibility"] == "after_published" and doc["stdout_visibility"] == "hidden"
    assert doc["output"] == "Problems with your submission:\n- a problem"
    assert [t["name"] for t in doc["tests"]] == [f"{e.id}: {e.title}" for e in EXERCISES]
    for t in doc["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["visibility"] in report.VISIBILITIES
    assert sum(t["score"] for t in doc["tests"]) == doc["score"]
    assert sum(t["max_score"] for t in doc["tests"]) == TOTAL
    causal = doc["tests"][IDS.index("CausalAttention")]
    assert causal["score"] == POINTS["CausalAttention"] / 2
    assert causal["max_score"] == POINTS["CausalAttention"] and causal["status"] == "failed"
    assert causal["output"] == "test_CausalAttention_hidden:\nshape (2, 3), expected (2, 6, 3)"
    assert (
        doc["tests"][0]["status"] == "passed"
        and doc["tests"][0]["output"] == "Passed all 2 checks."
    )


def test_results_visibility(tmp_path: Path) -> None:
    """Are exercises with only public checks visible and those with hidden ones held back?"""
    g = full_marks("bob")
    g.checks = [c for c in g.checks if not (c.exercise == "causal_mask" and c.hidden)]
    doc = report.results_json(g)
    seen = {t["name"].split(":")[0]: t["visibility"] for t in doc["tests"]}
    assert seen["causal_mask"] == "visible"
    assert seen["softmax_stable"] == "after_published"
    doc = report.results_json(g, hidden_visibility="after_due_date")
    assert {t["visibility"] for t in doc["tests"]} == {"visible", "after_due_date"}
    with pytest.raises(ValueError, match="later"):
        report.results_json(g, hidden_visibility="later")


# ---- feedback ------------------------------------------------------------------------------


def test_feedback_explains_lost_points(tmp_path: Path, out: Path) -> None:
    """Does the feedback give the total, a row per exercise, and for each lost one what failed,
    the first hint and the errors of its file?"""
    missing = "exercises/causal_attention.py is missing: causal_mask, ... score 0"
    g = losing(
        "bob",
        {"softmax_stable": "got nan at [0, 1], expected 0.5", "causal_mask": "not run"},
        [missing, "exercises/numpy_attention.py is not UTF-8 text"],
    )
    with book_with(tmp_path, g) as book:
        report.write_all(book, out)
    text = (out / "feedback" / "bob.md").read_text()
    lost = (POINTS["softmax_stable"] + POINTS["causal_mask"]) / 2
    assert f"**Total: {TOTAL - lost:g} / {TOTAL:g}** (graded " in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(EXERCISES)
    half, n = POINTS["softmax_stable"] / 2, IDS.index("softmax_stable") + 1
    row = f"| {n} | `softmax_stable`: {TITLES['softmax_stable']} | {half:g} / {2 * half:g} |"
    assert row in rows
    first = EXERCISES[0]
    assert f"| 1 | `{first.id}`: {first.title} | {first.points:g} / {first.points:g} ✓ |" in rows
    stable = section(text, "softmax_stable")
    assert "test_softmax_stable_hidden:\ngot nan at [0, 1], expected 0.5" in stable
    assert f"Hint: {manifest.by_id()['softmax_stable'].hints[0]}" in stable
    assert missing not in stable
    mask = section(text, "causal_mask")
    assert missing in mask and "not UTF-8" not in mask
    assert "### `attention_scores`" not in text  # full points: nothing to work on
    assert "Well done" not in text


def section(text: str, exercise: str) -> str:
    """The 'What to work on' section of one exercise."""
    start = text.index(f"### `{exercise}`")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_feedback_full_marks_and_printed_output(tmp_path: Path, out: Path) -> None:
    """Does a full-marks student get a friendly line, and printed output a fence it cannot
    break, cut to a few KB?"""
    g = full_marks("alice")
    g.output = "start\n" + "x" * 10_000 + "\n```\n# not a heading\nend"
    with book_with(tmp_path, g) as book:
        report.write_all(book, out)
    text = (out / "feedback" / "alice.md").read_text()
    assert "Every exercise earned full points. Well done!" in text
    printed = text[text.index("## What your code printed") :]
    assert printed.splitlines()[2] == "````text"  # longer than the ``` inside
    assert printed.rstrip().endswith("end\n````")
    assert "characters cut" in printed
    assert len(printed) < report.FEEDBACK_OUTPUT_CHARS + 500


def test_unsafe_student_id_is_refused(tmp_path: Path, out: Path) -> None:
    """Is a student id that is not a safe file name refused instead of written outside OUT?"""
    with book_with(tmp_path, full_marks("../escape")) as book, pytest.raises(ValueError):
        report.write_results(book.latest(), out)
    assert not (out / "escape.json").exists() and not (out.parent / "escape.json").exists()


# ---- writing safely ------------------------------------------------------------------------


def test_failed_write_keeps_previous_file(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Does a write that fails before the rename leave the old grades.json and no temp file?"""
    report.write_grades_json([full_marks("alice")], out)
    before = (out / "grades.json").read_text()

    def no_rename(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(report.os, "replace", no_rename)
    with pytest.raises(OSError, match="Input/output"):
        report.write_grades_json([full_marks("alice"), full_marks("bob")], out)
    assert (out / "grades.json").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == ["grades.json"]


def test_ensure_writable_creates_and_cleans(tmp_path: Path) -> None:
    """Does ensure_writable create OUT and leave no probe file behind?"""
    out = tmp_path / "a" / "b"
    report.ensure_writable(out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_ensure_writable_not_a_folder(tmp_path: Path) -> None:
    """Is an OUT below a regular file refused with a clear message?"""
    (tmp_path / "file").write_text("")
    with pytest.raises(
        OutNotWritable, match=r"cannot write reports to .*file/out: Not a directory"
    ):
        report.ensure_writable(tmp_path / "file" / "out")


def test_ensure_writable_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is a full disk (fsync fails with ENOSPC) refused with a clear message?"""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(report.os, "fsync", full)
    with pytest.raises(OutNotWritable, match="No space left on device; free some space"):
        report.ensure_writable(tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_ensure_writable_read_only(tmp_path: Path) -> None:
    """Is a read-only OUT refused with a clear message?"""
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    with pytest.raises(OutNotWritable, match="Permission denied"):
        report.ensure_writable(out)


# ---- the terminal --------------------------------------------------------------------------


def test_summary_numbers_and_pass_rates(tmp_path: Path) -> None:
    """Does the summary give mean, median, min, max and each exercise's pass rate in order?"""
    graded = [
        full_marks("alice"),
        losing("bob", {"softmax_stable": "x", "MultiHeadAttention": "y"}),
        Graded("carol", "d", 7),
    ]
    with book_with(tmp_path, *graded) as book:
        text = report.summary(book)
    lines = text.splitlines()
    totals = sorted(
        [TOTAL, TOTAL - (POINTS["softmax_stable"] + POINTS["MultiHeadAttention"]) / 2, 0]
    )
    mean = round(sum(totals) / 3, 4)
    assert lines[0] == (
        f"3 students, out of {TOTAL:g}: mean {mean:g}, median {totals[1]:g}, min 0, max {TOTAL:g}"
    )
    table = lines[3:]
    assert [line.split()[0] for line in table] == IDS
    assert table[IDS.index("softmax_stable")].split()[1:] == ["1/3", "33%"]
    assert table[IDS.index("attention_scores")].split()[1:] == ["2/3", "67%"]


def test_summary_of_empty_gradebook(tmp_path: Path) -> None:
    """Does an empty gradebook give a sentence rather than a division by zero?"""
    with book_with(tmp_path) as book:
        assert report.summary(book) == "No students graded yet."


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_when_not_a_tty() -> None:
    """Off a terminal, is there one full line every N students and one at the end?"""
    stream, clock = io.StringIO(), FakeClock()
    bar = Progress(5, stream=stream, every=2, clock=clock)
    for student in ["ann", "ben", "cyd", "dee", "eve"]:
        clock.now += 2.0
        bar.update(student)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[########------------] 2/5  ben  0.5/s  ETA 0:06",
        "[################----] 4/5  dee  0.5/s  ETA 0:02",
        "[####################] 5/5  eve  0.5/s  ETA 0:00",
    ]
    assert "\r" not in stream.getvalue()


def test_progress_redraws_in_place_on_a_tty() -> None:
    """On a terminal, is the line redrawn with \\r and ended with one newline on close?"""
    stream, clock = FakeTTY(), FakeClock()
    bar = Progress(3, stream=stream, clock=clock)
    for student in ["a-much-longer-name", "b", "c"]:
        clock.now += 1.0
        bar.update(student)
    assert stream.getvalue().count("\r") == 3 and "\n" not in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("c  1.0/s  ETA 0:00\n")
    last = stream.getvalue().split("\r")[-1]
    assert len(last.rstrip("\n")) >= len("[#######-------------] 1/3  a-much-longer-name")


def test_progress_disabled_is_silent() -> None:
    """Does --quiet (enabled=False) write nothing at all?"""
    stream = FakeTTY()
    bar = Progress(3, stream=stream, enabled=False)
    bar.update("a")
    bar.close()
    assert stream.getvalue() == ""


def test_feedback_shows_control_characters_instead_of_obeying_them() -> None:
    """Does printed output with a terminal escape (clear screen) and a carriage return appear
    escaped in the feedback, so reading the file in a terminal is safe?"""
    g = full_marks("eve")
    g.output = "before\x1b[2J\rafter"
    text = report.feedback_md(g)
    assert "\x1b" not in text and "\r" not in text
    assert "before\\x1b[2J\\x0dafter" in text


# ---- each student's files, side by side --------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="side_by_side forks")
def test_side_by_side_writes_every_part_once_and_says_a_helpers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Split three ways (one part here, two in forked helpers), is every item written once,
    does a helper's full disk come back as that OSError, its Ctrl-C as KeyboardInterrupt and any
    other failure as an error; and with no process to fork, is everything written here?"""
    monkeypatch.setattr(report, "SIDE_BY_SIDE", 1)
    monkeypatch.setattr(report.sys, "platform", "linux")
    monkeypatch.setattr(report.os, "cpu_count", lambda: 3)
    items = [full_marks(f"s{i}") for i in range(10)]

    def write(part: list[Graded]) -> None:
        for g in part:
            with open(tmp_path / g.student, "x") as f:  # "x": written twice would fail
                f.write(str(os.getpid()))

    report.side_by_side(write, items)
    writers = [(tmp_path / g.student).read_text() for g in items]
    assert len(set(writers)) == 3 and writers[0] == str(os.getpid())

    def full(part: list[Graded]) -> None:
        if items[1] in part:  # a helper's part
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:
        report.side_by_side(full, items)
    assert raised.value.errno == errno.ENOSPC

    def broken(part: list[Graded]) -> None:
        if items[2] in part:
            raise ValueError("a bug")

    with pytest.raises(RuntimeError, match="status 200"):
        report.side_by_side(broken, items)

    def interrupted(part: list[Graded]) -> None:
        if items[2] in part:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in a helper is Ctrl-C here
        report.side_by_side(interrupted, items)

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(report.os, "fork", no_fork)
    written: list[str] = []
    report.side_by_side(lambda part: written.extend(g.student for g in part), items)
    assert sorted(written) == sorted(g.student for g in items)  # all here, when fork fails


def test_a_large_class_gets_the_same_files_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Are results/, feedback/ (.md and .html) byte for byte the same when written in parts by
    forked helpers as when written by one process?"""
    graded = [losing(f"s{i}", {"softmax_stable": f"off by {i}"}) for i in range(6)]
    trees = {}
    for ways in (1, 3):
        monkeypatch.setattr(report, "SIDE_BY_SIDE", 1 if ways > 1 else 10**6)
        monkeypatch.setattr(report.os, "cpu_count", lambda ways=ways: ways)
        root = tmp_path / f"ways{ways}"
        with book_with(root, *graded) as book:
            report.write_all(book, root / "out")
        trees[ways] = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for folder in ("results", "feedback")
            for p in sorted((root / "out" / folder).iterdir())
        }
    assert len(trees[1]) == 18 and trees[1] == trees[3]
