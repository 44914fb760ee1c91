"""record: the gradebook keeps whole students only, reuses its seed, and knows what is current."""

from __future__ import annotations

import queue
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.grading import record
from autograder.grading.model import CheckResult, Graded
from autograder.grading.record import Gradebook, GradebookError
from autograder.grading.seeding import submission_seed
from learner import manifest

EXERCISES = [e.id for e in manifest.load()]
CHILD_TIMEOUT = 30.0  # seconds to wait for the child process's next line


def graded(student: str, version: int = 1, seed: int = 7) -> Graded:
    """One check per exercise; `version` is written into every row so mixes show up."""
    checks = [
        CheckResult(
            ex,
            f"test_{ex}_v{version}",
            2.0,
            2.0 if i % 3 else 0.0,
            "" if i % 3 else f"v{version}: row 1 differs",
            hidden=i % 2 == 0,
        )
        for i, ex in enumerate(EXERCISES)
    ]
    return Graded(
        student,
        f"digest-{student}-{version}",
        seed,
        checks,
        [f"err v{version}"],
        f"printed v{version}",
        100.0,
        101.5,
    )


def query(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute(sql).fetchall()


def count(path: Path, table: str) -> int:
    return query(path, f"SELECT COUNT(*) FROM {table}")[0][0]


def test_round_trip(tmp_path: Path) -> None:
    """Does latest() give back exactly what save() stored, hidden flags and all?"""
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        book.save(graded("bob"))
        book.save(graded("alice"))
        got = book.latest()
    assert got == [graded("alice"), graded("bob")]


def test_save_replaces_previous(tmp_path: Path) -> None:
    """Does saving a student again replace their rows instead of adding to them?"""
    path = tmp_path / "gradebook.sqlite"
    with Gradebook(path) as book:
        book.save(graded("alice", 1))
        book.save(graded("bob", 1))
        book.save(graded("alice", 2))
        assert book.latest() == [graded("alice", 2), graded("bob", 1)]
    assert count(path, "submissions") == 2
    assert count(path, "results") == 2 * len(EXERCISES)
    assert count(path, "students") == 2


def test_failed_save_keeps_previous(tmp_path: Path) -> None:
    """Does a save that fails halfway leave the student's previous grading untouched?"""
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        book.save(graded("alice", 1))
        broken = graded("alice", 2)
        broken.checks[-1].points = None  # type: ignore[assignment]  # NOT NULL: fails last
        with pytest.raises(sqlite3.IntegrityError):
            book.save(broken)
        assert book.latest() == [graded("alice", 1)]


def test_seed_is_stored_and_reused(tmp_path: Path) -> None:
    """Is the first seed kept across runs, and does set_seed override it?"""
    path = tmp_path / "gradebook.sqlite"
    with Gradebook(path) as book:
        assert book.seed(1234) == 1234
        assert book.seed(99) == 1234
    with Gradebook(path) as book:
        assert book.seed(5) == 1234
        book.set_seed(42)
        assert book.seed(5) == 42
    meta = dict(query(path, "SELECT key, value FROM meta"))
    assert meta == {
        "schema_version": str(record.SCHEMA_VERSION),
        "kit_version": record.kit_version(),
        "seed": "42",
    }


def test_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is a student current only with the same digest, the seed drawn from the run's seed and
    that digest, and the same kit?"""
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        seed = book.seed(7)
        assert not book.is_current("alice", "digest-alice-1")
        book.save(graded("alice", 1, seed=seed))  # the run's seed itself: not this submission's
        assert not book.is_current("alice", "digest-alice-1")
        book.save(graded("alice", 1, seed=submission_seed(seed, "digest-alice-1")))
        assert book.is_current("alice", "digest-alice-1")
        assert not book.is_current("alice", "digest-alice-2")
        assert not book.is_current("bob", "digest-alice-1")
        monkeypatch.setattr(record, "kit_version", lambda: "9.9.9")
        assert not book.is_current("alice", "digest-alice-1")
        monkeypatch.undo()
        book.set_seed(8)
        assert not book.is_current("alice", "digest-alice-1")


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    """Does a gradebook from another schema version give a clear error instead of mixing?"""
    path = tmp_path / "gradebook.sqlite"
    Gradebook(path).close()
    query(path, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(GradebookError, match="schema version 999, this kit writes 1"):
        Gradebook(path)


def test_not_a_database(tmp_path: Path) -> None:
    """Does a file that is not SQLite give a GradebookError naming the file?"""
    path = tmp_path / "gradebook.sqlite"
    path.write_bytes(b"grades, but in a spreadsheet" * 100)
    with pytest.raises(
        GradebookError, match=re.escape("gradebook.sqlite is not a usable gradebook")
    ):
        Gradebook(path)


# ---- a real kill -9 ------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_record import graded
    from autograder.grading.record import Gradebook

    book = Gradebook(Path(sys.argv[1]))
    mode = sys.argv[3]
    for i in range(5):
        book.save(graded(f"s{i}", 1))
    print("saved", flush=True)
    if mode == "stall":
        def stall(sql):
            if sql.startswith("INSERT INTO results"):  # inside save's transaction
                print("mid", flush=True)
                time.sleep(60)
        book._db.set_trace_callback(stall)
        book.save(graded("s2", 2))
    else:
        version = 2
        while True:
            book.save(graded(f"s{version % 5}", version))
            version += 1
            print(version, flush=True)
    """
)


def run_child(path: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(Path(__file__).parent), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


_LINES: dict[int, queue.Queue[str]] = {}


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The child's stdout lines, read by a thread ("" at the end): a select() on the pipe would
    miss lines already sitting in the reader's buffer."""
    if proc.pid not in _LINES:
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            try:
                for line in proc.stdout or ():
                    lines.put(line)
            except (OSError, ValueError):  # the test closed the pipe after a kill
                pass
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        _LINES[proc.pid] = lines
    return _LINES[proc.pid]


def wait_for(proc: subprocess.Popen[str], wanted: str) -> None:
    """Read the child's lines until `wanted` (or fail after CHILD_TIMEOUT)."""
    lines = _lines(proc)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        assert line, f"child exited with {proc.wait()} before printing {wanted!r}"
        if line.strip() == wanted:
            return
    proc.kill()
    proc.wait()  # reaped: the failure below is the one reported, not a ResourceWarning
    proc.stdout.close()
    pytest.fail(f"child did not print {wanted!r} within {CHILD_TIMEOUT} s")


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=CHILD_TIMEOUT) == -signal.SIGKILL
    assert proc.stdout is not None
    proc.stdout.close()


def assert_whole_students(path: Path) -> list[Graded]:
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    with Gradebook(path) as book:
        got = book.latest()
    assert [g.student for g in got] == [f"s{i}" for i in range(5)]
    for g in got:
        version = int(g.digest.rsplit("-", 1)[1])
        assert g == graded(g.student, version)  # every row from the same save
    assert count(path, "results") == 5 * len(EXERCISES)
    return got


@pytest.mark.slow
def test_kill_inside_a_save_keeps_the_previous_grading(tmp_path: Path) -> None:
    """Does SIGKILL in the middle of a save's transaction leave the previous rows, whole?"""
    path = tmp_path / "gradebook.sqlite"
    proc = run_child(path, "stall")
    wait_for(proc, "saved")
    wait_for(proc, "mid")
    kill9(proc)
    got = assert_whole_students(path)
    assert {g.student: g.digest for g in got}["s2"] == "digest-s2-1"


@pytest.mark.slow
def test_kill_during_a_batch_leaves_whole_students(tmp_path: Path) -> None:
    """Does SIGKILL at an arbitrary moment of a batch of saves leave only whole students?"""
    path = tmp_path / "gradebook.sqlite"
    proc = run_child(path, "loop")
    wait_for(proc, "40")
    kill9(proc)
    got = assert_whole_students(path)
    assert max(int(g.digest.rsplit("-", 1)[1]) for g in got) >= 39
