"""`attention-kit`: the instructor's commands (students use `make check`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from learner import COMMANDS

from .grading.student import BUDGET

if TYPE_CHECKING:
    from .grading.record import Gradebook


def _seconds(text: str) -> float:
    """A positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attention-kit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("autograde", help="grade a folder of submissions with the hidden suites")
    grade.add_argument(
        "--submissions", type=Path, required=True, help="one entry per student: a folder or a .zip"
    )
    grade.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where grades.json, grades.csv, gradebook.sqlite, results/ and feedback/ go",
    )
    grade.add_argument(
        "--seed", type=int, help="hidden-input seed (default: the gradebook's, or new)"
    )
    grade.add_argument("--lanes", type=int, help="submissions graded side by side (default: cores)")
    grade.add_argument("--regrade", action="store_true", help="grade unchanged submissions again")
    grade.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per call into student code"
    )
    grade.add_argument(
        "--budget",
        type=_seconds,
        default=BUDGET,
        metavar="SECONDS",
        help=f"seconds for a whole submission; checks not run by then score 0 (default {BUDGET:g})",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--course",
        type=Path,
        help="course file: due date, extensions, late policy (kept in the gradebook for later "
        "runs, exports and handback)",
    )

    _add_course_commands(sub)

    for name, text in COMMANDS.items():  # the student's commands, each parsing its own options
        sub.add_parser(name, help=text, add_help=False)

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        import importlib

        return int(importlib.import_module(f"learner.{argv[0]}").main(argv[1:]))
    args = parser.parse_args(argv)
    if args.command in COURSE_COMMANDS:
        return int(COURSE_COMMANDS[args.command](args))
    return _autograde(args)


# ---- running a course: what comes after grading, from OUT's gradebook ----------------------


def _add_course_commands(sub: argparse._SubParsersAction) -> None:
    from .grading.export import DEFAULT_ASSIGNMENT, FORMATS

    export = sub.add_parser("export", help="the gradebook as a Canvas or Moodle import CSV")
    export.add_argument("--format", choices=FORMATS, required=True)
    export.add_argument("--roster", type=Path, required=True, help="CSV: student,name,email,lms_id")
    export.add_argument("--out", type=Path, required=True, help="the graded OUT folder")
    export.add_argument("--total-only", action="store_true", help="one column: the total")
    export.add_argument(
        "--assignment",
        default=DEFAULT_ASSIGNMENT,
        help="the LMS column's title (Canvas: 'Title (123)' for existing assignment 123)",
    )
    export.add_argument("--to", type=Path, help="the CSV to write (default OUT/exports/FORMAT.csv)")

    back = sub.add_parser(
        "handback", help="what each student receives: a folder or a zip per student"
    )
    back.add_argument("--out", type=Path, required=True, help="the graded OUT folder")
    back.add_argument("--to", type=Path, help="where the folders go (default OUT/handback)")
    back.add_argument("--zip", action="store_true", help="one zip per student, not a folder")
    back.add_argument(
        "--student", action="append", metavar="ID", help="only this student (repeatable)"
    )


def _open_gradebook(out: Path) -> Gradebook | None:
    from .grading import record

    path = out / "gradebook.sqlite"
    if not path.is_file():
        print(
            f"error: no gradebook at {path}: grade first with attention-kit autograde --out {out}",
            file=sys.stderr,
        )
        return None
    try:
        return record.Gradebook(path)
    except record.GradebookError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def _export(args: argparse.Namespace) -> int:
    from . import course
    from .grading import export, roster

    try:
        people = roster.load(args.roster)
    except roster.RosterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    book = _open_gradebook(args.out)
    if book is None:
        return 2
    with book:
        graded = book.latest()
        late = course.lateness_of(book)
    to = args.to or args.out / "exports" / f"{args.format}.csv"
    done = export.export(
        graded,
        people,
        args.format,
        to,
        total_only=args.total_only,
        assignment=args.assignment,
        late=late,
    )
    print(f"wrote {done.path}: {done.rows} students; notes in {done.notes_path}")
    for line in done.notes():
        print(f"note: {line}")
    return 0


def _handback(args: argparse.Namespace) -> int:
    from . import course
    from .grading import handback

    book = _open_gradebook(args.out)
    if book is None:
        return 2
    with book:
        graded, when = book.latest(), book.graded_at()
        late = course.lateness_of(book)
    only = set(args.student) if args.student else None
    unknown = sorted((only or set()) - {g.student for g in graded})
    if unknown:
        print(f"error: not in the gradebook: {', '.join(unknown)}", file=sys.stderr)
        return 2
    dest = args.to or args.out / "handback"
    done = handback.hand_back(graded, dest, when, zips=args.zip, only=only, late=late)
    kind = "zips" if args.zip else "folders"
    print(f"wrote {len(done.written)} {kind} in {dest} ({', '.join(handback.FILES)} each)")
    if done.gone:
        print(f"note: no longer in SUBMISSIONS, handed back all the same: {', '.join(done.gone)}")
    return 0


def _late_line(book: Gradebook) -> str:
    """Who handed in late under the gradebook's course file, and who was on time thanks to an
    extension, a line each ("" when neither, or without a course file)."""
    from . import course

    lateness = course.lateness_of(book)
    if not lateness:
        return ""
    text = book.course_text()
    due = course.loads(text, str(book.path)).due if text is not None else None
    late = [f"{s} {v.describe()}" for s, v in sorted(lateness.items()) if v.late]
    extended = [s for s, v in sorted(lateness.items()) if not v.late and v.due != due]
    lines = [f"late: {'; '.join(late)} (grades.csv, feedback and exports apply it)"] if late else []
    lines += [f"on time within an extension: {', '.join(extended)}"] if extended else []
    return "\n".join(lines)


def _similar_line(out: Path) -> str:
    """One line on what OUT/similarity.json found ("" when nothing)."""
    from .grading import similarity

    doc = similarity.load(out) or {}
    same, pairs = doc.get("same", []), doc.get("pairs", [])
    parts = [f"{', '.join(group)} handed in the same code" for group in same[:3]]
    parts += [f"{p['a']} and {p['b']} ({100 * p['score']:.0f}%)" for p in pairs[:3]]
    if not parts:
        return ""
    more = len(same) + len(pairs) - len(parts)
    rest = f"; {more} more" if more > 0 else ""
    return f"similar submissions: {'; '.join(parts)}{rest} (report.html shows the code)"


def _store_course(path: Path, out: Path) -> bool:
    """Check the course file at `path` and keep its text in OUT's gradebook; False (said on
    stderr) when it is unusable, before anything is graded."""
    from . import course
    from .grading import record

    try:
        course.load(path)
        with record.Gradebook(out / "gradebook.sqlite") as book:
            book.set_course(path.read_text(encoding="utf-8"))
    except (course.CourseError, record.GradebookError) as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    return True


COURSE_COMMANDS = {"export": _export, "handback": _handback}


def _suite_problems() -> list[str]:
    """Where the hidden suites do not match exercises.toml, each with its file and line."""
    from .grading import suite

    return suite.validate(suite.discover())


def _autograde(args: argparse.Namespace) -> int:
    from .grading import batch, record, report

    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of submissions", file=sys.stderr)
        return 2
    if args.course is not None and not _store_course(args.course, args.out):
        return 2
    try:
        result = batch.autograde(
            args.submissions,
            args.out,
            seed=args.seed,
            lanes=args.lanes,
            regrade=args.regrade,
            timeout=args.timeout,
            budget=args.budget,
            progress=not args.quiet,
            suite_problems=_suite_problems,  # looked at while the lanes start
        )
    except batch.SuitesBroken as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except report.OutNotWritable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except batch.LaneFailed as e:
        print(
            f"error: grading stopped: {e}; every student graded so far is saved in "
            f"{args.out}/gradebook.sqlite: run the same command again to resume",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            f"interrupted: every student graded so far is saved in {args.out}/gradebook.sqlite; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    book = record.Gradebook(args.out / "gradebook.sqlite")
    try:
        print(report.gradebook_table(book))
        print()
        print(report.summary(book))
        late = _late_line(book)
    finally:
        book.close()
    similar = _similar_line(args.out)
    for line in [line for line in (late, similar) if line]:
        print()
        print(line)
    print(
        f"{result.collected} submissions: {result.graded} graded, {result.skipped} unchanged "
        f"(sandbox: {result.mode}, seed {result.seed}); wrote {args.out}/grades.json, grades.csv, "
        f"results/, feedback/, report.html"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
