"""nbgrader preprocessors: the hidden tests' points come from the isolated grader, not the kernel.

The course's nbgrader_config.py puts them into `nbgrader autograde`'s pipeline (see
`autograde_preprocessors`), around nbgrader's own:

    GradeSubmission -> Execute -> IgnorePattern -> ClearMetadata -> LimitOutput
      -> ScoreHiddenTests -> SaveAutoGrades -> AssignLatePenalties -> CheckCellMetadata

GradeSubmission runs in nbgrader's process before the student's kernel starts. The first time,
it grades every student in submitted/ at once with `attention-kit autograde` (grade.py: the same
road as `make autograde`, notebooks read from disk, student code in sandboxes), and it points the
kernel at that student's points for the hidden call to print. ScoreHiddenTests runs after the
kernel is done: it sets every test cell's result to the grader's points for that exercise (a
single number, nbgrader's partial credit), whatever the kernel printed or raised; what the visible
checks said stays in the cell as text.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
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

TESTS_SUFFIX = "_tests"  # test cells' grade_id: <exercise id>_tests


class GradeSubmission(NbGraderPreprocessor):
    """Grade the submission with the isolated grader before its notebook runs."""

    seed = Int(grade.DEFAULT_SEED, help="The hidden inputs' seed (as autograde --seed)").tag(
        config=True
    )
    lanes = Int(0, help="Submissions graded side by side (0: the number of cores)").tag(config=True)

    # (submitted folder, digest, seed) -> points; filled once per nbgrader process, for everyone
    graded: ClassVar[dict[tuple[str, str, int], grade.Points]] = {}
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
        self.log.info("attention-kit: grading %d submissions in the isolated grader", len(todo))
        points = grade.grade_folders(todo, self.seed, self.lanes or None)
        for s, folder in todo.items():
            type(self).graded[self._key(folder)] = points[s]

    def _key(self, folder: Path) -> tuple[str, str, int]:
        return (str(folder), grade.digest(folder), self.seed)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        student = resources["nbgrader"]["student"]
        folder = self._submitted(resources, student)
        key = self._key(folder)
        if key not in self.graded:
            self._grade_class(resources, student)
        points = self.graded[key]
        resources.setdefault("attention_kit", {})["points"] = points.points
        resources["attention_kit"]["messages"] = points.messages
        if type(self)._tmp is None:
            type(self)._tmp = Path(tempfile.mkdtemp(prefix="attention-kit-points-"))
            atexit.register(shutil.rmtree, type(self)._tmp, True)
        path = type(self)._tmp / f"{key[1][:24]}.json"
        path.write_text(json.dumps(points.points), encoding="utf-8")
        os.environ[POINTS_ENV] = str(path)  # the kernel Execute starts next inherits it
        os.environ[grade.SEED_ENV] = str(self.seed)
        return nb, resources


class ScoreHiddenTests(NbGraderPreprocessor):
    """Set every test cell's result to the isolated grader's points for its exercise."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        points = resources.get("attention_kit", {}).get("points")
        messages = resources.get("attention_kit", {}).get("messages", {})
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
