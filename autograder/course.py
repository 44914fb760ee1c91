"""The course file: the due date, per-student extensions and the late policy (course.toml).

    [assignment]
    due = 2026-03-06T23:59:00           # a local time, read in `timezone` ...
    timezone = "Europe/Berlin"          # ... or an offset datetime (2026-03-06T23:59:00+01:00)

    [late]
    penalty_per_day = 10                # percent of the points, per day or part of a day late
    max_penalty = 50                    # percent, the most a late submission loses
    zero_after = 2026-03-13T23:59:00    # optional: later than this scores 0

    [extensions]                        # a student's own due date, or days added to the due date
    eli = 2026-03-09T23:59:00
    fay = 2

Semantics follow nbgrader's: a submission is late when its time (nbgrader's `timestamp.txt`) is
after the due date, or the student's extended due date; nbgrader's "zero" policy is
`zero_after` equal to the due date. The penalty is a percent of the points scored, so the points
before the penalty stay what the grader found.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learner.manifest import tomllib

if TYPE_CHECKING:
    from .grading.model import Submission
    from .grading.record import Gradebook

TIMESTAMP_FILE = "timestamp.txt"  # nbgrader's name and format for a submission's time
DAY = timedelta(days=1)
STAMP_BYTES = 200  # what is read of a timestamp.txt
MAX_FILES = 10_000  # files looked at for the newest time (collect reads far fewer)


class CourseError(ValueError):
    """A course file this kit cannot use; the message names the file and the setting."""


@dataclass(frozen=True)
class Lateness:
    """When one submission came in and what that costs."""

    submitted: datetime | None
    due: datetime
    late_by: timedelta  # zero when on time
    penalty: float  # percent of the points taken off, 0..100

    @property
    def late(self) -> bool:
        return self.late_by > timedelta(0)

    def describe(self) -> str:
        """One line for a person: 'on time', 'late by 1 day 2 h: 10% off'."""
        if self.submitted is None:
            return "submission time unknown: no penalty"
        if not self.late:
            return "on time"
        return f"late by {duration(self.late_by)}: {_pct(self.penalty)}% off"


@dataclass(frozen=True)
class Course:
    due: datetime
    tz: timezone | ZoneInfo
    penalty_per_day: float = 0.0
    max_penalty: float = 100.0
    zero_after: datetime | None = None
    extensions: dict[str, datetime] = field(default_factory=dict)

    def due_for(self, student: str) -> datetime:
        return self.extensions.get(student, self.due)

    def lateness(self, student: str, submitted: datetime | None) -> Lateness:
        due = self.due_for(student)
        if submitted is None:
            return Lateness(None, due, timedelta(0), 0.0)
        late_by = max(submitted - due, timedelta(0))
        if late_by == timedelta(0):
            return Lateness(submitted, due, late_by, 0.0)
        # zero_after moves with an extension: it stays the same time after the due date
        if self.zero_after is not None and submitted > self.zero_after + (due - self.due):
            return Lateness(submitted, due, late_by, 100.0)
        days = math.ceil(late_by / DAY)  # a day or part of a day
        return Lateness(submitted, due, late_by, min(days * self.penalty_per_day, self.max_penalty))

    def local(self, moment: datetime) -> str:
        """`moment` in the course's time zone, to the second, with its offset."""
        return moment.astimezone(self.tz).isoformat(timespec="seconds")


def after_penalty(points: float, penalty: float) -> float:
    return round(points * (1.0 - penalty / 100.0), 4)


def _pct(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 2)


def duration(d: timedelta) -> str:
    """'2 days 3 h 5 min' (seconds dropped unless under a minute)."""
    secs = int(d.total_seconds())
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    mins, secs = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins else []
    return " ".join(parts) or f"{secs} s"


# ---- reading the course file ---------------------------------------------------------------


def load(path: Path) -> Course:
    """The course file at `path`, or CourseError naming what is wrong in it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CourseError(f"course file {path}: {getattr(e, 'strerror', None) or e}") from None
    return loads(text, f"course file {path}")


def loads(text: str, where: str = "course file") -> Course:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CourseError(f"{where} is not valid TOML: {e}") from None
    return parse(doc, where)


def parse(doc: dict, where: str = "course file") -> Course:
    def fail(msg: str) -> CourseError:
        return CourseError(f"{where}: {msg}")

    unknown = set(doc) - {"assignment", "late", "extensions"}
    if unknown:
        raise fail(
            f"unknown section(s) {', '.join(sorted(unknown))}: "
            "expected [assignment], [late], [extensions]"
        )
    a = doc.get("assignment")
    if not isinstance(a, dict) or "due" not in a:
        raise fail("[assignment] due = ... is missing (e.g. due = 2026-03-06T23:59:00)")
    _no_unknown(a, {"due", "timezone"}, "[assignment]", fail)
    tz_name = a.get("timezone")
    tz: timezone | ZoneInfo = timezone.utc
    if tz_name is not None:
        if not isinstance(tz_name, str):
            raise fail(
                f'[assignment] timezone must be a name like "Europe/Berlin", not {tz_name!r}'
            )
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"[assignment] timezone {tz_name!r} is not a known time zone") from None
    due = _moment(a["due"], tz, tz_name, "[assignment] due", fail)

    late = doc.get("late", {})
    if not isinstance(late, dict):
        raise fail("[late] must be a table")
    _no_unknown(late, {"penalty_per_day", "max_penalty", "zero_after"}, "[late]", fail)
    per_day = _percent(late.get("penalty_per_day", 0), "[late] penalty_per_day", fail)
    cap = _percent(late.get("max_penalty", 100), "[late] max_penalty", fail)
    zero_after = None
    if "zero_after" in late:
        zero_after = _moment(late["zero_after"], tz, tz_name, "[late] zero_after", fail)
        if zero_after < due:
            raise fail("[late] zero_after is before the due date")

    ext = doc.get("extensions", {})
    if not isinstance(ext, dict):
        raise fail("[extensions] must be a table: student = new due date, or days")
    extensions: dict[str, datetime] = {}
    for student, value in ext.items():
        what = f"[extensions] {student}"
        if isinstance(value, bool):
            raise fail(f"{what} must be a date and time or a number of days, not {value!r}")
        if isinstance(value, (int, float)):
            if value <= 0:
                raise fail(f"{what} = {value}: a number of days must be above 0")
            extensions[student] = due + timedelta(days=value)
        else:
            extensions[student] = _moment(value, tz, tz_name, what, fail)
            if extensions[student] < due:
                raise fail(f"{what} is before the due date: an extension only moves it later")
    return Course(due, tz, per_day, cap, zero_after, extensions)


def _no_unknown(table: dict, known: set[str], name: str, fail) -> None:
    unknown = set(table) - known
    if unknown:
        raise fail(
            f"{name} has unknown key(s) {', '.join(sorted(unknown))}: "
            f"known are {', '.join(sorted(known))}"
        )


def _percent(value: object, what: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise fail(f"{what} must be a percent from 0 to 100, not {value!r}")
    return float(value)


def _moment(value: object, tz, tz_name: str | None, what: str, fail) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise fail(f"{what} = {value!r} is not a date and time (2026-03-06T23:59:00)") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise fail(f"{what} is a date without a time: write {value}T23:59:00")
    if isinstance(value, time) or not isinstance(value, datetime):
        raise fail(f"{what} must be a date and time (2026-03-06T23:59:00), not {value!r}")
    if value.tzinfo is None:
        if tz_name is None:
            raise fail(
                f'{what} has no time zone: add [assignment] timezone = "..." '
                "or write an offset (2026-03-06T23:59:00+01:00)"
            )
        value = value.replace(tzinfo=tz)
    return value


# ---- a submission's time -------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime:
    """nbgrader's timestamp.txt ('2026-03-06 23:59:00.123456 UTC', or ISO 8601 with an offset);
    a time without a zone is UTC, as nbgrader writes it. ValueError if it is not a time."""
    t = text.strip()
    zone = timezone.utc
    for suffix in (" UTC", "UTC", "Z"):
        if t.endswith(suffix):
            t = t[: -len(suffix)].strip()
            break
    moment = datetime.fromisoformat(t)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def submission_time(origin: Path) -> tuple[datetime | None, str]:
    """When the submission at `origin` (a folder or a .zip) was handed in, and from what:
    its timestamp.txt when present (at its top, or in its one subfolder as nbgrader's
    submitted/<student>/<assignment>/ has it), else its newest file's modification time."""
    origin = Path(origin)
    try:
        if origin.is_dir():
            stamp = origin / TIMESTAMP_FILE
            below = list(origin.glob(f"*/{TIMESTAMP_FILE}"))
            if not stamp.is_file() and len(below) == 1:
                stamp = below[0]
            if stamp.is_file():
                try:
                    with open(stamp, "rb") as f:  # a few bytes, whatever its size
                        text = f.read(STAMP_BYTES).decode("utf-8", errors="replace")
                    return parse_timestamp(text), TIMESTAMP_FILE
                except ValueError:
                    pass  # falls back to the file times; the source says so
            files = itertools.islice(origin.rglob("*"), MAX_FILES)  # rglob keeps off symlinked dirs
            times = [p.lstat().st_mtime for p in files if p.is_file()]
            source = "file times"
            if stamp.is_file():
                source = f"file times ({TIMESTAMP_FILE} is not a time)"
        else:
            times = [origin.stat().st_mtime]
            source = "file time"
    except OSError:
        return None, "unknown"
    if not times:
        return None, "unknown"
    return datetime.fromtimestamp(max(times), timezone.utc), source


def submission_times(
    subs: Iterable[Submission],
) -> dict[str, tuple[str | None, str, str, str]]:
    """For the gradebook: student -> (time as ISO 8601 or None, its source, the origin, "{}":
    the sources go into the attempt when it is saved, so that nothing is written per student
    before grading starts)."""
    found = {}
    for s in subs:
        moment, source = submission_time(s.origin)
        iso = None if moment is None else moment.isoformat(timespec="seconds")
        found[s.student] = (iso, source, str(s.origin), "{}")
    return found


def lateness_of(book: Gradebook) -> dict[str, Lateness] | None:
    """Each student's lateness under the course file the gradebook holds (None without one)."""
    text = book.course_text()
    if text is None:
        return None
    c = loads(text, f"the course file stored in {book.path}")
    found = {}
    for student, (iso, _source) in book.submitted().items():
        moment = None if iso is None else datetime.fromisoformat(iso).astimezone(c.tz)
        found[student] = c.lateness(student, moment)
    return found
