"""`attention-kit`: the instructor's commands (students use `make check`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# the student's loop besides check: autograder/<name>.py, each with its own main(argv)
LEARNER_COMMANDS = {
    "watch": "check the exercise you edit on every save (same as `make watch`)",
    "hint": "the next hint for an exercise (same as `make hint`)",
    "reset": "put one exercise back to its stub, after asking (same as `make reset`)",
}


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
    grade.add_argument("--quiet", action="store_true", help="no progress bar")

    check = sub.add_parser("check", help="the student's check (same as `make check`)")
    check.add_argument("rest", nargs=argparse.REMAINDER)
    for name, text in LEARNER_COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("check", *LEARNER_COMMANDS):  # each parses its own options
        import importlib

        return int(importlib.import_module(f"autograder.{argv[0]}").main(argv[1:]))
    args = parser.parse_args(argv)
    return _autograde(args)


def _autograde(args: argparse.Namespace) -> int:
    from .grading import batch, record, report

    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of submissions", file=sys.stderr)
        return 2
    try:
        result = batch.autograde(
            args.submissions,
            args.out,
            seed=args.seed,
            lanes=args.lanes,
            regrade=args.regrade,
            timeout=args.timeout,
            progress=not args.quiet,
        )
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
    finally:
        book.close()
    print(
        f"{result.collected} submissions: {result.graded} graded, {result.skipped} unchanged "
        f"(sandbox: {result.mode}, seed {result.seed}); wrote {args.out}/grades.json, grades.csv, "
        f"results/, feedback/, report.html"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
