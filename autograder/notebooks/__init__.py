"""Notebooks: one per topic, generated from the single source, and notebook submissions.

build.py writes the instructor and student notebooks (no nbgrader needed), extract.py turns a
handed-in notebook back into its module's source, course.py makes the nbgrader course, grade.py,
kernel.py and preprocessors.py are the hidden tests' road into the isolated grader.
"""

from __future__ import annotations

from pathlib import Path


def write_student(dest: Path) -> list[Path]:
    """Write the student notebooks (stubs, visible checks, no solutions, no hidden tests) into
    `dest`, one `<module>.ipynb` per topic in teaching order; returns their paths."""
    from .build import write

    return write(Path(dest), student=True)


def write_source(dest: Path) -> list[Path]:
    """Write the instructor notebooks (solutions and hidden tests) into `dest`."""
    from .build import write

    return write(Path(dest), student=False)
