"""Record: the gradebook, one SQLite file (OUT/gradebook.sqlite) that every export is made from.

Each student's grading is saved in one transaction that replaces the previous one, so a run
killed at any moment leaves whole students only, and a re-run grades only what changed: a
submission is current when its content digest, the run seed and the kit version all match.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cache
from importlib import metadata
from pathlib import Path
from types import TracebackType

from .model import CheckResult, Graded

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL UNIQUE REFERENCES students(id),
    digest TEXT NOT NULL,
    seed INTEGER NOT NULL,
    kit_version TEXT NOT NULL,
    started REAL NOT NULL,      -- unix time the grading started
    finished REAL NOT NULL,
    graded_at TEXT NOT NULL,    -- ISO 8601, UTC, when this row was saved
    errors TEXT NOT NULL,       -- JSON list of one-line problems
    output TEXT NOT NULL        -- what the student's code printed, already cut
);
CREATE TABLE IF NOT EXISTS results (
    submission INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    exercise TEXT NOT NULL,
    name TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    message TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    seed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_submission ON results (submission);
CREATE TABLE IF NOT EXISTS handed_in (      -- when each student's current submission came in
    student TEXT PRIMARY KEY,
    submitted TEXT,                         -- ISO 8601 with offset, NULL when unknown
    source TEXT NOT NULL,                   -- timestamp.txt, file times, ...
    origin TEXT NOT NULL,                   -- the folder or .zip it was read from
    content TEXT NOT NULL                   -- JSON: module -> source, as collect read it
);
CREATE TABLE IF NOT EXISTS attempts (       -- every graded version, kept after a resubmission
    student TEXT NOT NULL,
    digest TEXT NOT NULL,
    origin TEXT NOT NULL,                   -- where its content was read from
    content BLOB NOT NULL,                  -- JSON: module -> source, the bytes graded (zlib)
    submitted TEXT,
    graded_at TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    PRIMARY KEY (student, digest)
);
"""


class GradebookError(Exception):
    """A gradebook this kit cannot use (another schema version, not a SQLite file)."""


@cache
def kit_version() -> str:
    try:
        return metadata.version("attention-kit")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "0+unknown"


class Gradebook:
    """The gradebook at `path` (created with its schema if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: transactions are opened explicitly in _transaction
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as e:
            raise GradebookError(f"{self.path} could not be opened: {e}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")  # readers never see a half transaction
            self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when save returns
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._check_schema()
        except (sqlite3.Error, GradebookError) as e:
            self._db.close()
            if isinstance(e, GradebookError):
                raise
            raise GradebookError(f"{self.path} is not a usable gradebook: {e}") from None

    # ---- meta ----------------------------------------------------------------------------

    def _get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _check_schema(self) -> None:
        found = self._get("schema_version")
        if found is None:
            self._set("schema_version", str(SCHEMA_VERSION))
        elif found != str(SCHEMA_VERSION):
            raise GradebookError(
                f"{self.path} has schema version {found}, this kit writes {SCHEMA_VERSION}: "
                "grade into a new --out folder"
            )
        self._set("kit_version", kit_version())

    def seed(self, default: int) -> int:
        """The run's secret seed: `default` stored on first use, the stored one ever after."""
        with self._transaction():
            found = self._get("seed")
            if found is None:
                self._set("seed", str(int(default)))
                return int(default)
            return int(found)

    def set_seed(self, seed: int) -> None:
        """Force the seed (every submission graded with another one is then out of date)."""
        with self._transaction():
            self._set("seed", str(int(seed)))

    def stored_seed(self) -> int | None:
        """The run's seed, or None before the first run stored one."""
        found = self._get("seed")
        return None if found is None else int(found)

    def set_collected(self, students: Iterable[str]) -> None:
        """The students found in SUBMISSIONS by this run: anyone graded before but not among
        them is marked as no longer there (kept, never deleted: their grades stay)."""
        with self._transaction():
            self._set("collected", json.dumps(sorted(set(students))))

    def gone(self) -> set[str]:
        """Graded students who were not in SUBMISSIONS at the last run (none before any run
        recorded what it collected)."""
        found = self._get("collected")
        if found is None:
            return set()
        graded = {row[0] for row in self._db.execute("SELECT student FROM submissions")}
        return graded - set(json.loads(found))

    def set_course(self, text: str | None) -> None:
        """The course file's text (course.load checked it), read by every report and export."""
        with self._transaction():
            if text is None:
                self._db.execute("DELETE FROM meta WHERE key = 'course'")
            else:
                self._set("course", text)

    def course_text(self) -> str | None:
        return self._get("course")

    def set_submitted(self, times: dict[str, tuple[str | None, str, str, str]]) -> None:
        """student -> (submission time as ISO 8601 or None, where the time was read from, the
        folder or .zip of the submission, its sources as JSON), kept with its next grading."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO handed_in (student, submitted, source, origin, content) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (student) DO UPDATE SET "
                "submitted = excluded.submitted, source = excluded.source, "
                "origin = excluded.origin, content = excluded.content",
                [(s, *row) for s, row in times.items()],
            )

    def submitted(self) -> dict[str, tuple[str | None, str]]:
        """student -> (submission time, its source) as the last run read them."""
        rows = self._db.execute("SELECT student, submitted, source FROM handed_in")
        return {s: (iso, source) for s, iso, source in rows}

    def attempts(self, student: str) -> list[dict]:
        """Every graded version of `student`'s submission, newest grading first."""
        rows = self._db.execute(
            "SELECT digest, origin, submitted, graded_at, points, max_points FROM attempts "
            "WHERE student = ? ORDER BY graded_at DESC, rowid DESC",
            (student,),
        )
        keys = ("digest", "origin", "submitted", "graded_at", "points", "max_points")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def attempt_sources(self, student: str, digest: str) -> dict[str, str] | None:
        """The sources graded in `student`'s attempt with `digest` (module -> text)."""
        row = self._db.execute(
            "SELECT content FROM attempts WHERE student = ? AND digest = ?", (student, digest)
        ).fetchone()
        if row is None:
            return None
        content = row[0]
        return json.loads(zlib.decompress(content) if isinstance(content, bytes) else content)

    # ---- submissions -----------------------------------------------------------------------

    def is_current(self, student: str, digest: str) -> bool:
        """Was `student` graded with exactly this content, the current seed and this kit? (Each
        submission's seed is drawn from the run's seed and its digest: seeding.submission_seed.)"""
        from .seeding import submission_seed

        row = self._db.execute(
            "SELECT s.seed, m.value FROM submissions s JOIN meta m ON m.key = 'seed' "
            "WHERE s.student = ? AND s.digest = ? AND s.kit_version = ?",
            (student, digest, kit_version()),
        ).fetchone()
        return row is not None and row[0] == submission_seed(int(row[1]), digest)

    def save(self, graded: Graded, sources: dict[str, str] | None = None) -> None:
        """Replace `graded.student`'s previous grading with this one, all or nothing, and keep
        it among the student's attempts (the same bytes again update their attempt), with the
        `sources` graded (module -> text) when given."""
        graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction():
            self._db.execute(
                "INSERT INTO students (id) VALUES (?) ON CONFLICT DO NOTHING", (graded.student,)
            )
            self._db.execute(
                "DELETE FROM results WHERE submission IN "
                "(SELECT id FROM submissions WHERE student = ?)",
                (graded.student,),
            )
            self._db.execute("DELETE FROM submissions WHERE student = ?", (graded.student,))
            cur = self._db.execute(
                "INSERT INTO submissions (student, digest, seed, kit_version, started, finished, "
                "graded_at, errors, output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    graded.student,
                    graded.digest,
                    graded.seed,
                    kit_version(),
                    graded.started,
                    graded.finished,
                    graded_at,
                    json.dumps(graded.errors),
                    graded.output,
                ),
            )
            self._db.executemany(
                "INSERT INTO results (submission, exercise, name, points, max_points, message, "
                "hidden, seed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cur.lastrowid,
                        c.exercise,
                        c.name,
                        c.points,
                        c.max_points,
                        c.message,
                        int(c.hidden),
                        graded.seed,
                    )
                    for c in graded.checks
                ],
            )
            row = self._db.execute(
                "SELECT submitted, origin, content FROM handed_in WHERE student = ?",
                (graded.student,),
            ).fetchone() or (None, "", "{}")
            content = (  # compressed: a class's every version adds up
                zlib.compress(json.dumps(sources, sort_keys=True).encode(), 6)
                if sources is not None
                else row[2]
            )
            self._db.execute(
                "INSERT INTO attempts (student, digest, origin, content, submitted, graded_at, "
                "points, max_points) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (student, digest) DO UPDATE "
                "SET graded_at = excluded.graded_at, points = excluded.points, "
                "max_points = excluded.max_points",
                (
                    graded.student,
                    graded.digest,
                    row[1],
                    content,
                    row[0],
                    graded_at,
                    sum(c.points for c in graded.checks),
                    sum(c.max_points for c in graded.checks),
                ),
            )

    def latest(self) -> list[Graded]:
        """Every student's current grading, sorted by student id."""
        subs = self._db.execute(
            "SELECT id, student, digest, seed, started, finished, errors, output "
            "FROM submissions ORDER BY student"
        ).fetchall()
        checks: dict[int, list[CheckResult]] = {}
        for sub_id, exercise, name, points, max_points, message, hidden in self._db.execute(
            "SELECT submission, exercise, name, points, max_points, message, hidden "
            "FROM results ORDER BY submission, rowid"
        ):
            checks.setdefault(sub_id, []).append(
                CheckResult(exercise, name, max_points, points, message, bool(hidden))
            )
        gone = self.gone()
        return [
            Graded(
                student,
                digest,
                seed,
                checks.get(sub_id, []),
                json.loads(errors),
                output,
                started,
                finished,
                gone=student in gone,
            )
            for sub_id, student, digest, seed, started, finished, errors, output in subs
        ]

    def graded_at(self) -> dict[str, str]:
        """When each student's current grading was saved (ISO 8601, UTC)."""
        return dict(self._db.execute("SELECT student, graded_at FROM submissions"))

    # ---- plumbing --------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
