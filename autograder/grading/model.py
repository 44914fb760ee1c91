"""The records that flow through the grading pipeline (plain data, no student objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Submission:
    """One student's files, read by collect: module name -> source text."""

    student: str
    origin: Path
    sources: dict[str, str] = field(default_factory=dict)
    digest: str = ""  # sha256 over the sorted (module, source) pairs: what "changed" means
    errors: list[str] = field(default_factory=list)  # one line each, shown to the student
    # modules handed in as notebooks: module -> its line map (notebooks/extract.py's CellMap)
    cells: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    """One hidden check of one exercise."""

    exercise: str
    name: str  # the check's function name, e.g. test_softmax_stable_large_logits
    max_points: float
    points: float
    message: str = ""  # what failed, in words a student can act on ("" when passed)
    hidden: bool = True  # hidden checks' details follow the course's visibility setting

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points


@dataclass
class Graded:
    """Everything the grader learned about one submission."""

    student: str
    digest: str
    seed: int
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    output: str = ""  # what the student's code printed, cut to a few KB
    started: float = 0.0
    finished: float = 0.0
    gone: bool = False  # graded in an earlier run, no longer in SUBMISSIONS at the last one

    def points(self, exercise_ids: list[str]) -> dict[str, float]:
        """Points per exercise, every id present (0 where nothing ran)."""
        totals = dict.fromkeys(exercise_ids, 0.0)
        for c in self.checks:
            if c.exercise in totals:
                totals[c.exercise] += c.points
        return {k: round(v, 4) for k, v in totals.items()}
