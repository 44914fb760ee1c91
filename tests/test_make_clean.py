"""`make clean` removes what the kit regenerates and never an instructor's grades."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from autograder import ROOT

KEPT = (
    "out/gradebook.sqlite",
    "out/grades.csv",
    "build/nbgrader/gradebook.db",
    "build/nbgrader/submitted/ada/attention/simple_attention.ipynb",
)
GONE = (
    "build/student/README.md",
    "build/student.zip",
    "build/autograder.zip",
    "build/plots/x.png",
    "build/demo/gradebook.sqlite",
    ".pytest_cache/v",
)


def test_make_clean_keeps_grades_and_submissions(tmp_path: Path) -> None:
    """After `make clean`, are the default OUT and the nbgrader course (its submitted notebooks
    and gradebook) still there, byte for byte, while the regenerable builds are gone?"""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in KEPT + GONE:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"contents of {name}")
    proc = subprocess.run(
        ["make", "-s", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert {n: (tmp_path / n).read_text() for n in KEPT} == {n: f"contents of {n}" for n in KEPT}
    assert [n for n in GONE if (tmp_path / n).exists()] == []
