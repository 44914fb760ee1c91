"""Report: every export, made from the gradebook, each file written atomically.

OUT/grades.json and OUT/grades.csv for the instructor, OUT/results/<student>.json in Gradescope's
results.json format, OUT/feedback/<student>.md for the student; plus the terminal summary and the
batch progress bar.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from learner import atomic, attention_maps, manifest, mistakes

from .. import course
from .collect import SAFE_ID
from .model import CheckResult, Graded
from .record import Gradebook

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FEEDBACK_OUTPUT_CHARS = 3000  # of the student's printed output shown in feedback
PROBE_BYTES = 64 * 1024  # written and fsynced by ensure_writable
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would read these as a formula
GONE = "no longer in SUBMISSIONS"  # a student graded before whose entry has since been removed


class OutNotWritable(Exception):
    """The output folder cannot take the reports (read-only, full, not a folder)."""


def ensure_writable(out: Path) -> None:
    """Create `out` and prove a file can be written and fsynced there, before grading starts."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"\0" * PROBE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        finally:
            with suppress(FileNotFoundError):
                os.unlink(probe)
    except OSError as e:
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)  # otherwise read-only, not permitted, ...
        advice = "free some space or choose another --out" if full else "choose another --out"
        raise OutNotWritable(
            f"cannot write reports to {out}: {e.strerror or e}; {advice}"
        ) from None


def write_all(book: Gradebook, out: Path, *, hidden_visibility: str = "after_published") -> None:
    """grades.json, grades.csv, results/<student>.json, feedback/<student>.md and .html,
    report.html and charts/."""
    graded = book.latest()
    when = book.graded_at()
    late = course.lateness_of(book)
    _remove_stale_temps(Path(out))
    write_grades_json(graded, out, late)
    write_grades_csv(graded, out, when, seed=book.stored_seed(), late=late)
    from .report_html import write_feedback_pages, write_html  # it builds on this module

    def students(part: list[Graded]) -> None:
        write_results(part, out, hidden_visibility=hidden_visibility)
        write_feedback_pages(part, out, write_feedback(part, out, when, late))

    side_by_side(students, graded)
    attempts = {g.student: book.attempts(g.student) for g in graded}
    write_html(graded, out, late=late, attempts=attempts)


SIDE_BY_SIDE = 200  # students per process, at least, for each student's files to be split
HELPER_FAILED = 200  # a helper's exit status when it raised anything but an OSError


def side_by_side(write: Callable[[list[Graded]], None], graded: list[Graded]) -> None:
    """write(part) for every part of `graded`: with a large class on Linux, parts in forked
    processes beside this one, one per core. For files of one student each, which no two
    parts share. An OSError in a helper is raised here with its errno (a full disk)."""
    ways = min(os.cpu_count() or 1, len(graded) // SIDE_BY_SIDE)
    if ways <= 1 or not sys.platform.startswith("linux"):
        write(graded)
        return
    parts = [graded[i::ways] for i in range(ways)]
    helpers = []
    try:
        for part in parts[1:]:
            try:
                pid = os.fork()
            except OSError:  # no process to spare: this one writes the part too
                write(part)
                continue
            if pid == 0:  # the helper: its part, then out without any of the parent's cleanup
                code = HELPER_FAILED
                try:
                    write(part)
                    code = 0
                except OSError as e:
                    code = e.errno if e.errno and 0 < e.errno < HELPER_FAILED else HELPER_FAILED
                except KeyboardInterrupt:  # Ctrl-C: the main process says so, once
                    code = 128 + signal.SIGINT
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            helpers.append(pid)
        write(parts[0])
    finally:
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in helpers]
    for code in codes:
        if code == 128 + signal.SIGINT:
            raise KeyboardInterrupt
        if 0 < code < HELPER_FAILED:
            raise OSError(code, os.strerror(code))
        if code:
            raise RuntimeError(f"a process writing students' reports ended with status {code}")


# ---- grades.json and grades.csv ------------------------------------------------------------


def _ids() -> list[str]:
    return [e.id for e in manifest.load()]


def _num(x: float) -> int | float:
    """3.0 -> 3, 2.50001 -> 2.5: what a person expects to read."""
    x = round(float(x), 4)
    return int(x) if x.is_integer() else x


def _total(g: Graded) -> int | float:
    return _num(sum(g.points(_ids()).values()))


def late_fields(g: Graded, late: dict[str, course.Lateness] | None) -> dict[str, object]:
    """With a course file: when the submission came in, how late, the penalty in percent and
    the total after it (the total before it stays in `total`). Empty without a course file."""
    if late is None:
        return {}
    lt = late.get(g.student) or course.Lateness(None, datetime.min, timedelta(0), 0.0)
    return {
        "submitted": "" if lt.submitted is None else lt.submitted.isoformat(timespec="seconds"),
        "late_by": course.duration(lt.late_by) if lt.late else "",
        "penalty_percent": _num(lt.penalty),
        "total_after_penalty": _num(course.after_penalty(_total(g), lt.penalty)),
    }


def write_grades_json(
    graded: list[Graded], out: Path, late: dict[str, course.Lateness] | None = None
) -> Path:
    """OUT/grades.json: max points and every student's points per exercise, teaching order
    (with a course file, each student's time, lateness and total after the penalty too)."""
    doc = {
        "max_points": {e.id: _num(e.points) for e in manifest.load()},
        "students": {
            g.student: {
                "points": {k: _num(v) for k, v in g.points(_ids()).items()},
                "total": _total(g),
                "errors": list(g.errors),
                "status": GONE if g.gone else "graded",
                **late_fields(g, late),
            }
            for g in graded
        },
    }
    path = Path(out) / "grades.json"
    _atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates."""
    return "'" + text if text.startswith(CSV_TRIGGERS) else text


GRADES_CSV_TAIL = ["total", "errors", "seed", "graded_at", "status"]
LATE_CSV_TAIL = ["submitted", "late_by", "penalty_percent", "total_after_penalty"]


def write_grades_csv(
    graded: list[Graded],
    out: Path,
    when: dict[str, str] | None = None,
    *,
    seed: int | None = None,
    late: dict[str, course.Lateness] | None = None,
) -> Path:
    """OUT/grades.csv: student, one column per exercise in teaching order, total, the problems
    with the submission (one per line in the cell), the run's seed (what --seed reproduces),
    when it was graded (ISO 8601, UTC) and its status ("graded" or GONE); with a course file,
    then LATE_CSV_TAIL: submitted, late_by, penalty_percent, total_after_penalty."""
    when = when or {}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", *_ids(), *GRADES_CSV_TAIL, *(LATE_CSV_TAIL if late else [])])
    for g in graded:
        points = g.points(_ids())
        writer.writerow(
            [
                _cell(g.student),
                *(_num(points[i]) for i in _ids()),
                _total(g),
                _cell("\n".join(g.errors)),
                "" if seed is None else seed,
                when.get(g.student, ""),
                GONE if g.gone else "graded",
                *late_fields(g, late).values(),
            ]
        )
    path = Path(out) / "grades.csv"
    _atomic_write(path, buf.getvalue())
    return path


# ---- Gradescope results.json ---------------------------------------------------------------


def _by_exercise(g: Graded) -> dict[str, list[CheckResult]]:
    found: dict[str, list[CheckResult]] = {i: [] for i in _ids()}
    for c in g.checks:
        if c.exercise in found:
            found[c.exercise].append(c)
    return found


def _failures(checks: list[CheckResult]) -> list[tuple[list[str], str]]:
    """Failed checks grouped by message, in order: ([check names], message)."""
    groups: dict[str, list[str]] = {}
    for c in checks:
        if not c.passed:
            groups.setdefault(c.message or "failed", []).append(c.name)
    return [(names, message) for message, names in groups.items()]


def _test_output(checks: list[CheckResult]) -> str:
    if not checks:
        return "Not graded: see the problems with the submission above."
    failures = _failures(checks)
    if not failures:
        return f"Passed all {len(checks)} checks." if len(checks) > 1 else "Passed."
    return "\n\n".join(f"{', '.join(names)}:\n{message}" for names, message in failures)


def results_json(
    g: Graded, *, hidden_visibility: str = "after_published", problems: list[str] | None = None
) -> dict[str, Any]:
    """One student's results in Gradescope's results.json schema, one test per exercise.

    An exercise whose checks are all public is "visible"; one with hidden checks follows
    `hidden_visibility`, as does the submission as a whole. The top-level output lists
    `problems` (default: every line of `g.errors`); a problem met while running the student's
    code is also in the output of the tests it cost.
    """
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"visibility {hidden_visibility!r} is not one of {VISIBILITIES}")
    tests = []
    checks = _by_exercise(g)
    for e in manifest.load():
        mine = checks[e.id]
        score = _num(sum(c.points for c in mine))
        hidden = any(c.hidden for c in mine)
        tests.append(
            {
                "name": f"{e.id}: {e.title}",
                "score": score,
                "max_score": _num(e.points),
                "status": "passed" if score >= e.points else "failed",
                "output": _test_output(mine),
                "visibility": hidden_visibility if hidden else "visible",
            }
        )
    listed = "\n".join(f"- {line}" for line in (g.errors if problems is None else problems))
    return {
        "score": _total(g),
        "execution_time": round(max(0.0, g.finished - g.started), 2),
        "output": f"Problems with your submission:\n{listed}" if listed else "",
        "visibility": hidden_visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_results(
    graded: list[Graded], out: Path, *, hidden_visibility: str = "after_published"
) -> None:
    """OUT/results/<student>.json for every student."""
    for g in graded:
        doc = results_json(g, hidden_visibility=hidden_visibility)
        path = _student_file(out, "results", g.student, ".json")
        _atomic_write(path, json.dumps(doc, indent=2), durable=False)  # one file a student


# ---- feedback/<student>.md -----------------------------------------------------------------


# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but newline and tab
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BACKTICKS = re.compile("`+")


def _printable(text: str) -> str:
    """Control characters (terminal escapes, carriage returns) shown as \\x.. escapes, so that
    reading a feedback file in a terminal shows what was printed instead of obeying it."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _fenced(text: str, info: str = "text") -> str:
    """`text` in a code fence longer than any backtick run inside it, control characters shown."""
    text = _printable(text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _cut(text: str, limit: int = FEEDBACK_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - 2 * half} characters cut) ...\n{text[-half:]}"


def _mentions(line: str, exercise: manifest.Exercise) -> bool:
    words = set(line.replace(",", " ").replace(":", " ").split())
    return f"{exercise.module}.py" in line or exercise.id in words


def feedback_md(g: Graded, when: str = "", late: course.Lateness | None = None) -> str:
    """A student's report: total, a table of exercises, then what to work on."""
    points, checks = g.points(_ids()), _by_exercise(g)
    exercises = manifest.load()
    total, possible = _total(g), _num(sum(e.points for e in exercises))
    lines = [f"# Feedback for {g.student}", ""]
    lines += [f"**Total: {total} / {possible}**" + (f" (graded {_when(when)})" if when else ""), ""]
    if late is not None:
        lines += _late_lines(late, total, possible)
    if g.errors:
        lines += ["## Problems with your submission", "", _fenced("\n".join(g.errors)), ""]
    lines += ["## Exercises", "", "| # | Exercise | Points |", "|--:|---|--:|"]
    for n, e in enumerate(exercises, start=1):
        mark = " ✓" if points[e.id] >= e.points else ""
        title = e.title.replace("|", "\\|")
        lines.append(f"| {n} | `{e.id}`: {title} | {_num(points[e.id])} / {_num(e.points)}{mark} |")
    lines.append("")
    lost = [e for e in exercises if points[e.id] < e.points]
    if not lost:
        lines += ["Every exercise earned full points. Well done!", ""]
    else:
        lines += ["## What to work on", ""]
        for e in lost:
            lines += _lost_section(e, points[e.id], checks[e.id], g.errors)
    if g.output.strip():
        lines += ["## What your code printed", "", _fenced(_cut(g.output)), ""]
    return "\n".join(lines)


def _late_lines(late: course.Lateness, total: float, possible: float) -> list[str]:
    """The feedback's lines on when the submission came in and what lateness cost."""
    due = f"due {late.due.isoformat(sep=' ', timespec='minutes')}"
    if late.submitted is None:
        return [f"Submission time unknown ({due}): no late penalty.", ""]
    handed = f"Handed in {late.submitted.isoformat(sep=' ', timespec='minutes')} ({due}): "
    if not late.late:
        return [handed + "on time.", ""]
    after = _num(course.after_penalty(total, late.penalty))
    return [
        handed + f"late by {course.duration(late.late_by)}.",
        "",
        f"**Late penalty: {_num(late.penalty)}%, total after the penalty: {after} / {possible}**",
        "",
    ]


def _when(iso: str) -> str:
    """2026-11-24T22:10:58+00:00 -> 2026-11-24 22:10 UTC."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _lost_section(
    e: manifest.Exercise, points: float, checks: list[CheckResult], errors: list[str]
) -> list[str]:
    lines = [f"### `{e.id}`: {e.title} ({_num(points)} / {_num(e.points)})", ""]
    failures = _failures(checks)
    if failures:
        text = "\n\n".join(f"{', '.join(names)}:\n{message}" for names, message in failures)
        lines += ["What failed:", "", _fenced(text), ""]
    drawn = attention_maps.feedback_map(e.id)
    if drawn:
        lines += [f"The expected weights (`make check EX={e.id}` draws yours beside them):", ""]
        lines += [_fenced(drawn), ""]
    mine = [line for line in errors if _mentions(line, e)]
    if mine:
        lines += ["Problems with its file:", "", _fenced("\n".join(mine)), ""]
    said = "\n".join(message for _, message in failures)
    hint = mistakes.hint_for(e, "", said)  # the one for a named mistake
    if hint:
        lines += [f"Hint: {hint}", ""]
    return lines


def write_feedback(
    graded: list[Graded],
    out: Path,
    when: dict[str, str] | None = None,
    late: dict[str, course.Lateness] | None = None,
) -> dict[str, str]:
    """OUT/feedback/<student>.md for every student; returns the texts by student."""
    when = when or {}
    texts = {}
    for g in graded:
        mine = None if late is None else late.get(g.student)
        texts[g.student] = text = feedback_md(g, when.get(g.student, ""), mine)
        _atomic_write(_student_file(out, "feedback", g.student, ".md"), text, durable=False)
    return texts


# ---- the terminal --------------------------------------------------------------------------


def summary(book: Gradebook) -> str:
    """Totals across the class and each exercise's pass rate, in teaching order."""
    graded = book.latest()
    exercises = manifest.load()
    possible = _num(sum(e.points for e in exercises))
    if not graded:
        return "No students graded yet."
    totals = [float(_total(g)) for g in graded]
    lines = [
        f"{len(graded)} students, out of {possible}: mean {_num(statistics.fmean(totals))}, "
        f"median {_num(statistics.median(totals))}, min {_num(min(totals))}, "
        f"max {_num(max(totals))}",
        "",
    ]
    width = max(len(e.id) for e in exercises)
    lines.append(f"{'exercise':<{width}}  {'full points':>11}")
    for e in exercises:
        passed = sum(g.points(_ids())[e.id] >= e.points for g in graded)
        rate = f"{passed}/{len(graded)} {100 * passed / len(graded):4.0f}%"
        lines.append(f"{e.id:<{width}}  {rate:>11}")
    return "\n".join(lines)


def gradebook_table(book: Gradebook, limit: int = 60) -> str:
    """One row per student: points per topic (a file of exercises/), total, and problems."""
    graded = book.latest()
    exercises = manifest.load()
    topics = manifest.modules()
    possible = {t: _num(sum(e.points for e in exercises if e.module == t)) for t in topics}
    heads = [f"{t.removesuffix('_attention')} /{possible[t]}" for t in topics]
    width = max([len("student"), *(len(g.student) for g in graded[:limit])])
    lines = [f"{'student':<{width}}  " + "  ".join(heads) + "  total  problems"]
    for g in graded[:limit]:
        points = g.points(_ids())
        cells = [
            f"{_num(sum(points[e.id] for e in exercises if e.module == t)):>{len(h)}}"
            for t, h in zip(topics, heads, strict=True)
        ]
        problems = str(len(g.errors)) if g.errors else ""
        if g.gone:
            problems = f"{problems}  ({GONE})".lstrip()
        lines.append(f"{g.student:<{width}}  " + "  ".join(cells) + f"  {_total(g):>5}  {problems}")
    if len(graded) > limit:
        lines.append(f"... and {len(graded) - limit} more students: see grades.csv")
    return "\n".join(lines)


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, every `every` students if not.

    `[#####-----] 12/40  alice  3.1/s  ETA 0:09`
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.enabled = total, enabled and total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = every or max(1, total // 10)
        self.clock, self.start = clock, clock()
        self.done, self.current = 0, ""
        self._drawn = 0  # width of the line on screen (terminal only)

    def update(self, student: str) -> None:
        """One more student finished."""
        self.done += 1
        self.current = student
        if not self.enabled:
            return
        if self.tty:
            self._redraw()
        elif self.done % self.every == 0 or self.done == self.total:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        width = 20
        filled = width * self.done // self.total if self.total else width
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = _clock_time((self.total - self.done) / rate) if rate > 0 else "-"
        return (
            f"[{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.total}  "
            f"{self.current}  {rate:.1f}/s  ETA {eta}"
        )

    def _redraw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        text = self.line()[: max(10, columns - 1)]
        self.stream.write("\r" + text.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(text)

    def close(self) -> None:
        """End the line on a terminal."""
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


def _clock_time(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


# ---- files ---------------------------------------------------------------------------------


def _student_file(out: Path, folder: str, student: str, suffix: str) -> Path:
    if not SAFE_ID.fullmatch(student):
        raise ValueError(f"student id {student!r} is not safe as a file name")
    return Path(out) / folder / f"{student}{suffix}"


def _remove_stale_temps(out: Path) -> None:
    """Temp files of a run killed mid-write (kill -9 skips the cleanup): never renamed, never
    read, but they would sit in results/ and feedback/ for good."""
    stale = [*out.glob(".write-test-*")]
    for folder in (out, out / "results", out / "feedback"):
        stale += folder.glob(".*.tmp")
    for path in stale:
        with suppress(FileNotFoundError):
            path.unlink()


def _atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    atomic.write_text(path, text, durable=durable)
