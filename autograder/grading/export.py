"""LMS exports: the gradebook as a file Canvas or Moodle imports as it is.

Canvas (Grades > Import): the gradebook's own CSV layout. The header names the student columns
`Student`, `ID`, `SIS User ID`, `SIS Login ID`, `Section`, then one column per assignment; the
second row is `Points Possible`, the points of each column. Canvas finds each student by `ID`
(the roster's lms_id, Canvas's user ID); a column whose title is not an assignment of the
course creates one with those points, and `Title (123)` names the existing assignment 123.

Moodle (Grades > Import > CSV file): a header row, one row per student. At import, map
`Email address` (or `ID number`) to the same user field and each grade column to a grade
item (or to a new one). An empty cell leaves a grade as it is in both LMSs.

Every student of the gradebook who is not on the roster, every roster student with no
submission and every student no longer in SUBMISSIONS is listed in the notes written beside
the export and printed: nobody is dropped or kept without a word. The CSV itself carries no
such column: Canvas would take any extra column for an assignment.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from learner import atomic, manifest

from ..course import Lateness, after_penalty
from . import report
from .model import Graded
from .roster import Entry

FORMATS = ("canvas", "moodle")
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS = "Points Possible"
MOODLE_IDENTITY = ["ID number", "Email address", "Full name"]
DEFAULT_ASSIGNMENT = "Self-attention"


@dataclass
class Exported:
    """What an export wrote and whom it could not match."""

    path: Path
    notes_path: Path
    rows: int
    not_on_roster: list[str] = field(default_factory=list)  # graded, cannot be uploaded
    no_submission: list[str] = field(default_factory=list)  # on the roster, left blank
    gone: list[str] = field(default_factory=list)  # exported, no longer in SUBMISSIONS
    no_lms_id: list[str] = field(default_factory=list)  # exported, Canvas can match by name only
    penalized: list[str] = field(default_factory=list)  # exported after a late penalty

    def notes(self) -> list[str]:
        lines = []
        if self.not_on_roster:
            lines.append(
                f"graded but not on the roster, so not in {self.path.name}: "
                + ", ".join(self.not_on_roster)
            )
        if self.no_submission:
            lines.append(
                "on the roster with no graded submission, left blank (the LMS keeps what it "
                "has): " + ", ".join(self.no_submission)
            )
        if self.gone:
            lines.append(
                f"{report.GONE} (graded in an earlier run; their grade is exported): "
                + ", ".join(self.gone)
            )
        if self.no_lms_id:
            lines.append(
                "no lms_id on the roster (Canvas then matches them by name only): "
                + ", ".join(self.no_lms_id)
            )
        if self.penalized:
            lines.append("late, exported after the penalty: " + "; ".join(self.penalized))
        return lines


def columns(assignment: str, total_only: bool) -> list[tuple[str, float]]:
    """(column title, points possible): the total alone, or one column per exercise."""
    exercises = manifest.load()
    if total_only:
        return [(assignment, float(sum(e.points for e in exercises)))]
    return [(f"{assignment}: {e.id}", e.points) for e in exercises]


def scores(g: Graded | None, total_only: bool, penalty: float = 0.0) -> list[str]:
    """The cells of one student's grades ("" where there is no submission), each cut by the
    late `penalty` in percent (the LMS gets the grade after the penalty)."""
    ids = [e.id for e in manifest.load()]
    if g is None:
        return [""] * (1 if total_only else len(ids))
    points = g.points(ids)
    if total_only:
        return [str(report._num(after_penalty(sum(points.values()), penalty)))]
    return [str(report._num(after_penalty(points[i], penalty))) for i in ids]


def export(
    graded: list[Graded],
    roster: dict[str, Entry],
    fmt: str,
    path: Path,
    *,
    total_only: bool = False,
    assignment: str = DEFAULT_ASSIGNMENT,
    late: dict[str, Lateness] | None = None,
) -> Exported:
    """Write `fmt`'s CSV for the roster's students to `path`, its notes beside it; with `late`
    (course.lateness_of) every grade is the one after its late penalty, and the notes list
    the penalties."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    by_student = {g.student: g for g in graded}
    cols = columns(assignment, total_only)
    buf = io.StringIO()
    writer = csv.writer(buf)
    if fmt == "canvas":
        writer.writerow([*CANVAS_IDENTITY, *(title for title, _ in cols)])
        blank = [""] * (len(CANVAS_IDENTITY) - 1)
        writer.writerow([CANVAS_POINTS, *blank, *(report._num(p) for _, p in cols)])
    else:
        writer.writerow([*MOODLE_IDENTITY, *(title for title, _ in cols)])
    path = Path(path)
    done = Exported(path, path.with_name(f"{path.stem}-notes.txt"), 0)
    for entry in roster.values():
        g = by_student.get(entry.student)
        if g is None:
            done.no_submission.append(entry.student)
        elif g.gone:
            done.gone.append(entry.student)
        if fmt == "canvas":
            if not entry.lms_id:
                done.no_lms_id.append(entry.student)
            who = [entry.name or entry.student, entry.lms_id, "", "", ""]
        else:
            who = [entry.lms_id, entry.email, entry.name]
        lt = (late or {}).get(entry.student)
        penalty = 0.0 if lt is None else lt.penalty
        if g is not None and penalty:
            done.penalized.append(f"{entry.student} {report._num(penalty)}% ({lt.describe()})")
        writer.writerow([*who, *scores(g, total_only, penalty)])
        done.rows += 1
    done.not_on_roster = [g.student for g in graded if g.student not in roster]
    atomic.write_text(path, buf.getvalue())
    notes = done.notes() or [
        "every graded student is on the roster and every roster student has a graded submission"
    ]
    atomic.write_text(done.notes_path, "\n".join(notes) + "\n")
    return done
