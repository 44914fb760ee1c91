"""The hidden tests' one call: `hidden_points("<exercise>")`, the test cell's last line.

Its value (a number) is the cell's output, which nbgrader reads as partial credit. It never
trusts the kernel it runs in: the points come from the isolated grader, which reads the
notebooks' files, not the kernel's functions. Under `nbgrader autograde` the course's
preprocessor graded the submission before any of its cells ran and says where the points are
(ATTENTION_KIT_POINTS); it also sets the cell's output itself after the run, so a notebook that
patches this function, the kit or `print` gains nothing. Anywhere else (the instructor running
the source notebooks) the notebooks in the current folder are graded here, once per content (kept
in the user's cache folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

POINTS_ENV = "ATTENTION_KIT_POINTS"  # a JSON file {exercise: points}, written by the preprocessor


def cache_dir() -> Path:
    """Where gradings of notebook folders are kept: the user's own cache folder, never a shared
    one such as /tmp (where another user could plant the file, or a link in its place)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attention-kit"


def _points_here() -> dict[str, float]:
    from learner import atomic

    from . import grade

    folder, seed = Path.cwd(), grade.seed_from_env()
    # one grading per content and seed, shared by the kernels of the folder's notebooks
    cache = cache_dir() / f"points-{grade.digest(folder)[:32]}-{seed}.json"
    try:
        points = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(points, dict):
            return points
    except (OSError, ValueError):
        pass  # none yet, or unreadable: grade again
    points = grade.grade_folders({"notebook": folder}, seed)["notebook"].points
    atomic.write_text(cache, json.dumps(points), mode=0o600, durable=False)
    return points


def hidden_points(exercise: str) -> float:
    """The points the isolated grader gives `exercise` for the notebooks as they are on disk."""
    given = os.environ.get(POINTS_ENV)
    if given:
        points = json.loads(Path(given).read_text(encoding="utf-8"))
    else:
        points = _points_here()
    return float(points[exercise])
