"""The course roster: who is in the class and how the LMS knows them.

A CSV file with a header row naming at least these columns (any order, any case; other
columns are ignored, so a spreadsheet's extra columns can stay):

    student,name,email,lms_id
    ada,"Lovelace, Ada",ada@example.edu,1234

`student` is the id the grader knows (the entry's name in SUBMISSIONS), `name` the student's
name as the LMS shows it, `email` their address, `lms_id` the LMS's own id for them (Canvas:
the user ID of the gradebook's `ID` column; Moodle: the user's ID number). Only `student` must
be filled in on every row. UTF-8, with or without the byte-order mark a spreadsheet writes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("student", "name", "email", "lms_id")
MAX_BYTES = 10 * 1024 * 1024  # a roster is a few KB; anything this size is the wrong file


class RosterError(ValueError):
    """The roster cannot be used; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class Entry:
    student: str
    name: str
    email: str
    lms_id: str


def load(path: Path) -> dict[str, Entry]:
    """The roster at `path`, by student id, in file order."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RosterError(f"{path}: {path.stat().st_size} bytes is too large for a roster")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 text; save the roster as CSV UTF-8") from None
    except OSError as e:
        raise RosterError(f"{path}: cannot be read: {e.strerror or e}") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        raise RosterError(f"{path}: empty; the first line names the columns {','.join(COLUMNS)}")
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise RosterError(
            f"{path}: line 1 has no column {', '.join(missing)}; the header must name "
            f"{','.join(COLUMNS)}"
        )
    where = {c: names.index(c) for c in COLUMNS}
    entries: dict[str, Entry] = {}
    seen: dict[str, dict[str, str]] = {"lms_id": {}, "email": {}}  # value -> student
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines a spreadsheet leaves at the end
        cells = {c: (row[i].strip() if i < len(row) else "") for c, i in where.items()}
        if not cells["student"]:
            raise RosterError(f"{path}: line {line} has no student id")
        if cells["student"] in entries:
            raise RosterError(
                f"{path}: line {line}: student {cells['student']!r} is already on the roster"
            )
        for column in ("lms_id", "email"):  # the LMS would put two rows on one person
            twin = seen[column].setdefault(cells[column], cells["student"])
            if cells[column] and twin != cells["student"]:
                raise RosterError(
                    f"{path}: line {line}: {column} {cells[column]!r} is also {twin}'s"
                )
        entries[cells["student"]] = Entry(**cells)
    return entries
