"""The hidden tests' one call: `hidden_points("<exercise>")`, the test cell's last line.

Its value (a number) is the cell's output, which nbgrader reads as partial credit. It never
trusts the kernel it runs in: the points come from the isolated grader, which reads the
notebooks' files, not the kernel's functions. Under `nbgrader autograde` the course's
preprocessor graded the submission before any of its cells ran and says where the points are
(ATTENTION_KIT_POINTS); it also sets the cell's output itself after the run, so a notebook that
patches this function, the kit or `print` gains nothing. Anywhere else (the instructor running
the source notebooks) the notebooks in the current folder are graded here, once per content.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

POINTS_ENV = "ATTENTION_KIT_POINTS"  # a JSON file {exercise: points}, written by the preprocessor


def _points_here() -> dict[str, float]:
    from . import grade

    folder, seed = Path.cwd(), grade.seed_from_env()
    name = (
        f"attention-kit-points-{grade.digest(folder)[:32]}-{seed}.json"  # one grading per content
    )
    cache = Path(tempfile.gettempdir()) / name
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    points = grade.grade_folders({"notebook": folder}, seed)["notebook"].points
    cache.write_text(json.dumps(points), encoding="utf-8")
    return points


def hidden_points(exercise: str) -> float:
    """The points the isolated grader gives `exercise` for the notebooks as they are on disk."""
    given = os.environ.get(POINTS_ENV)
    if given:
        points = json.loads(Path(given).read_text(encoding="utf-8"))
    else:
        points = _points_here()
    return float(points[exercise])
