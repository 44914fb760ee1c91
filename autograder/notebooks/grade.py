"""Grade notebook submissions with `attention-kit autograde`, the same road as `make autograde`.

One call grades a whole class of notebook folders in one batch (one grader start-up: torch,
the zygote, the reference self-test), in a child process: collect reads each notebook's answer
cells (extract.py), every submission runs in its own sandbox, and grades.json gives the points
per exercise. Used by the nbgrader preprocessors (all students before any notebook runs) and by
the hidden tests' call when no preprocessor graded the notebook.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from learner import manifest

from .. import ROOT

RUN_TIMEOUT = 1800  # seconds for one class: the CLI bounds each call into student code itself
DEFAULT_SEED = 20260301  # when neither the course config nor ATTENTION_KIT_SEED gives one
SEED_ENV = "ATTENTION_KIT_SEED"


@dataclass
class Points:
    """One student's points per exercise (every id present) and the problems graded."""

    points: dict[str, float]
    errors: list[str]
    messages: dict[str, str] = field(default_factory=dict)  # exercise -> what its checks said


class GradingFailed(RuntimeError):
    """The grader itself could not run (not a student's fault)."""


def seed_from_env() -> int:
    value = os.environ.get(SEED_ENV, "")
    return int(value) if value.strip().lstrip("-").isdigit() else DEFAULT_SEED


def notebooks_in(folder: Path) -> dict[str, Path]:
    """The topic notebooks of one submission folder, by module name."""
    return {
        m: folder / f"{m}.ipynb" for m in manifest.modules() if (folder / f"{m}.ipynb").is_file()
    }


Snapshot = dict[str, bytes]  # module -> the bytes of its notebook, read once


def snapshot(folder: Path) -> Snapshot:
    """The topic notebooks of a folder as they are now; every later step reads these bytes."""
    return {module: path.read_bytes() for module, path in notebooks_in(folder).items()}


def snapshot_digest(notebooks: Snapshot) -> str:
    """sha256 over a snapshot's notebooks (what "changed" means here)."""
    h = hashlib.sha256()
    for module, data in sorted(notebooks.items()):
        h.update(module.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def digest(folder: Path) -> str:
    """sha256 over the topic notebooks of a folder as they are now."""
    return snapshot_digest(snapshot(folder))


def grade_folders(
    folders: dict[str, Path], seed: int, lanes: int | None = None
) -> dict[str, Points]:
    """Grade each student's folder of notebooks; returns their points, by student."""
    return grade_snapshots({s: snapshot(f) for s, f in folders.items()}, seed, lanes)


def grade_snapshots(
    snapshots: dict[str, Snapshot], seed: int, lanes: int | None = None
) -> dict[str, Points]:
    """Grade each student's snapshot of notebooks; returns their points, by student."""
    if not snapshots:
        return {}
    with tempfile.TemporaryDirectory(prefix="attention-kit-nb-") as tmp:
        subs, out = Path(tmp) / "submissions", Path(tmp) / "out"
        names = {student: f"s{n}" for n, student in enumerate(snapshots)}  # any nbgrader id
        for student, notebooks in snapshots.items():
            dest = subs / names[student]
            dest.mkdir(parents=True)
            for module, data in notebooks.items():
                (dest / f"{module}.ipynb").write_bytes(data)
        cmd = [
            sys.executable, "-m", "autograder.cli", "autograde", "--quiet",
            "--submissions", str(subs), "--out", str(out), "--seed", str(seed),
        ]  # fmt: skip
        if lanes:
            cmd += ["--lanes", str(lanes)]
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
        grades_file = out / "grades.json"
        if proc.returncode != 0 or not grades_file.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise GradingFailed(
                f"attention-kit autograde exited with {proc.returncode}: " + " | ".join(tail)
            )
        graded = json.loads(grades_file.read_text(encoding="utf-8"))["students"]
        ids = [e.id for e in manifest.load()]
        return {
            s: Points(
                {i: float(graded[n]["points"][i]) for i in ids},
                list(graded[n]["errors"]),
                _messages(out / "results" / f"{n}.json"),
            )
            for s, n in names.items()
        }


def _messages(results: Path) -> dict[str, str]:
    """Exercise id -> the output of its test in results/<student>.json ("<id>: <title>")."""
    if not results.is_file():
        return {}
    tests = json.loads(results.read_text(encoding="utf-8")).get("tests", [])
    return {str(t["name"]).split(":", 1)[0]: str(t.get("output", "")) for t in tests}
