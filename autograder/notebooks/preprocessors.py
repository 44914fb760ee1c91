"""nbgrader preprocessors: the hidden tests' points come from the isolated grader, not the kernel.

The course's nbgrader_config.py puts them into `nbgrader autograde`'s pipeline (see
`autograde_preprocessors`), around nbgrader's own:

    GradeSubmission -> Execute -> IgnorePattern -> ClearMetadata -> LimitOutput
      -> ScoreHiddenTests -> SaveAutoGrades -> AssignLatePenalties -> CheckCellMetadata

GradeSubmission runs in nbgrader's process before the student's kernel starts. The first time,
it reads every notebook in submitted/ that this run will autograde into memory (a snapshot, with
each student's content hash in the log) and grades them all at once with `attention-kit
autograde` (grade.py: the same road as `make autograde`, student code in sandboxes), before any
kernel runs; it points each kernel at its student's points for the hidden call to print. A kernel
runs with the instructor's rights and may rewrite another student's submitted notebook: that
student is still graded from the snapshot, and their test cells say that the file changed.
ScoreHiddenTests runs after the kernel is done: it sets every test cell's result to the grader's
points for that exercise (a single number, nbgrader's partial credit), whatever the kernel
printed or raised; what the visible checks said stays in the cell as text.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, SaveAutoGrades
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Int

from . import grade
from .kernel import POINTS_ENV

SNAPSHOTS = """CREATE TABLE IF NOT EXISTS attention_kit_snapshots (
    student TEXT NOT NULL, assignment TEXT NOT NULL, handed_in TEXT NOT NULL,
    sha256 TEXT NOT NULL, taken TEXT NOT NULL, PRIMARY KEY (student, assignment, handed_in)
)"""  # each hand-in's notebooks as first graded, in the course's gradebook.db
TESTS_SUFFIX = "_tests"  # test cells' grade_id: <exercise id>_tests
CHANGED = (
    "Note: your submitted notebooks changed after they were handed in (while the class was being "
    "graded); your points come from the notebooks as you handed them in."
)
ALTERED = (
    "Note: your submitted notebooks are not the ones first graded for this hand-in (they changed "
    "after that grading); your instructor has been told."
)


class GradeSubmission(NbGraderPreprocessor):
    """Grade the submission with the isolated grader before its notebook runs."""

    seed = Int(grade.DEFAULT_SEED, help="The hidden inputs' seed (as autograde --seed)").tag(
        config=True
    )
    lanes = Int(0, help="Submissions graded side by side (0: the number of cores)").tag(config=True)

    # (submitted folder, seed) -> points from the snapshot, filled once per nbgrader process for
    # everyone before any kernel runs; folder -> the snapshot's content hash
    graded: ClassVar[dict[tuple[str, int], grade.Points]] = {}
    hashes: ClassVar[dict[str, str]] = {}
    altered: ClassVar[set[str]] = set()  # folders whose hand-in differs from its first grading
    _tmp: ClassVar[Path | None] = None

    def _submitted(self, resources: dict[str, Any], student: str) -> Path:
        coursedir = CourseDirectory(parent=self)
        assignment = resources["nbgrader"]["assignment"]
        return Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))

    def _grade_class(self, resources: dict[str, Any], student: str) -> None:
        """Every submission this nbgrader run will autograde and that is not graded yet, in one
        batch (the converter lists them as submitted/<student>/<assignment> folders)."""
        folders = {student: self._submitted(resources, student)}
        converter = getattr(self.parent, "parent", None)
        for path in getattr(converter, "assignments", {}) or {}:
            folders.setdefault(Path(path).parent.name, Path(path))
        todo = {s: f for s, f in folders.items() if self._key(f) not in self.graded}
        snapshots = {s: grade.snapshot(f) for s, f in todo.items()}  # before any kernel runs
        self.log.info("attention-kit: grading %d submissions in the isolated grader", len(todo))
        points = grade.grade_snapshots(snapshots, self.seed, self.lanes or None)
        for s, folder in todo.items():
            sha = grade.snapshot_digest(snapshots[s])
            type(self).graded[self._key(folder)] = points[s]
            type(self).hashes[str(folder)] = sha
            self.log.info("attention-kit: %s graded from sha256 %s", s, sha)
            first = self._remember(resources, s, folder, sha)
            if first is not None:
                type(self).altered.add(str(folder))
                self.log.warning(
                    "attention-kit: %s's hand-in was first graded from sha256 %s, its notebooks "
                    "are now %s: they changed after that grading",
                    s,
                    first,
                    sha,
                )

    def _remember(
        self, resources: dict[str, Any], student: str, folder: Path, sha: str
    ) -> str | None:
        """Record `sha` for this hand-in (student, assignment, its timestamp.txt) in a table of
        the kit's own in the course's gradebook.db, the first time; returns the hash recorded
        before when it differs. The table is the instructor's file: a kernel could edit it too."""
        url = CourseDirectory(parent=self).db_url
        if not url.startswith("sqlite:///"):
            return None
        stamp = folder / "timestamp.txt"
        handed_in = stamp.read_text(errors="replace")[:100].strip() if stamp.is_file() else ""
        key = (student, str(resources["nbgrader"]["assignment"]), handed_in)
        try:
            with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), 30)) as db:
                with db:
                    db.execute(SNAPSHOTS)
                    row = db.execute(
                        "SELECT sha256 FROM attention_kit_snapshots "
                        "WHERE student = ? AND assignment = ? AND handed_in = ?",
                        key,
                    ).fetchone()
                    if row is None:
                        db.execute(
                            "INSERT INTO attention_kit_snapshots VALUES (?, ?, ?, ?, ?)",
                            (*key, sha, datetime.now(timezone.utc).isoformat(timespec="seconds")),
                        )
        except sqlite3.Error as e:  # the gradebook is nbgrader's: never fail grading over this
            self.log.warning(
                "attention-kit: could not record %s's sha256 in %s: %s", student, url, e
            )
            return None
        return row[0] if row is not None and row[0] != sha else None

    def _key(self, folder: Path) -> tuple[str, int]:
        return (str(folder), self.seed)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        student = resources["nbgrader"]["student"]
        folder = self._submitted(resources, student)
        key = self._key(folder)
        if key not in self.graded:
            self._grade_class(resources, student)
        points = self.graded[key]
        now = grade.digest(folder)
        changed = now != self.hashes[str(folder)]
        if changed:
            self.log.warning(
                "attention-kit: %s's notebooks changed after the snapshot (sha256 %s, now %s): "
                "graded from the snapshot",
                student,
                self.hashes[str(folder)],
                now,
            )
        resources.setdefault("attention_kit", {})["points"] = points.points
        resources["attention_kit"]["messages"] = points.messages
        altered = str(folder) in self.altered
        resources["attention_kit"]["notice"] = CHANGED if changed else ALTERED if altered else ""
        if type(self)._tmp is None:
            type(self)._tmp = Path(tempfile.mkdtemp(prefix="attention-kit-points-"))
            atexit.register(shutil.rmtree, type(self)._tmp, True)
        path = type(self)._tmp / f"{self.hashes[str(folder)][:24]}.json"
        path.write_text(json.dumps(points.points), encoding="utf-8")
        os.environ[POINTS_ENV] = str(path)  # the kernel Execute starts next inherits it
        os.environ[grade.SEED_ENV] = str(self.seed)
        return nb, resources


class ScoreHiddenTests(NbGraderPreprocessor):
    """Set every test cell's result to the isolated grader's points for its exercise."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        points = resources.get("attention_kit", {}).get("points")
        messages = resources.get("attention_kit", {}).get("messages", {})
        notice = resources.get("attention_kit", {}).get("notice", "")
        if points is None:
            raise RuntimeError(
                "attention-kit: GradeSubmission did not run before ScoreHiddenTests: use "
                "autograde_preprocessors() in nbgrader_config.py"
            )
        os.environ.pop(POINTS_ENV, None)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = str(meta.get("grade_id", ""))
            if cell.cell_type != "code" or not meta.get("grade"):
                continue
            exercise = grade_id.removesuffix(TESTS_SUFFIX)
            got, most = points.get(exercise, 0.0), float(meta.get("points", 0))
            said = messages.get(exercise, "").strip()
            hidden = f"Hidden tests: {got:g}/{most:g} points" + (f"\n{said}" if said else "")
            hidden += f"\n{notice}" if notice else ""
            text = new_output("stream", name="stdout", text=hidden + "\n")
            cell.outputs = [*_as_text(cell.outputs), text, _result(got)]
        return nb, resources


def _as_text(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """The kernel's outputs as plain stdout text: what the visible checks said, never a grade."""
    kept = []
    for out in outputs:
        if out.output_type == "stream":
            kept.append(new_output("stream", name="stdout", text=out.text))
        elif out.output_type == "error":
            text = f"{out.ename}: {out.evalue}\n"
            kept.append(new_output("stream", name="stdout", text=f"Visible check failed: {text}"))
    return kept


def _result(points: float) -> NotebookNode:
    return new_output("execute_result", data={"text/plain": f"{points:g}"}, execution_count=None)


def autograde_preprocessors() -> list[type[Preprocessor]]:
    """nbgrader's autograde pipeline with GradeSubmission before Execute and ScoreHiddenTests
    just before SaveAutoGrades."""
    from nbgrader.converters import Autograde

    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    missing = {Execute, SaveAutoGrades} - set(defaults)
    if missing:
        names = sorted(m.__name__ for m in missing)
        raise RuntimeError(f"nbgrader's autograde pipeline has no {names}: cannot add the kit's")
    out: list[type[Preprocessor]] = []
    for pp in defaults:
        if pp is Execute:
            out.append(GradeSubmission)
        if pp is SaveAutoGrades:
            out.append(ScoreHiddenTests)
        out.append(pp)
    return out
