"""`make reset EX=<exercise>`: put one exercise back to its stub, after asking.

Only that exercise's function or class is replaced, with the untouched stub from
learner/public/stubs.json; the other exercises in the same file stay as they are. It shows
what would be lost and asks; anything but y or yes leaves the file alone. With no terminal to
ask on, it refuses unless given --yes (YES=1 with make).
Exit status 0 when reset, when there was nothing to reset or when you said no; 1 when it could
not ask or could not write; 2 for an unknown EX.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from . import atomic, manifest, pristine, progress

HUNK = re.compile(r"^@@ -(\d+)")  # a hunk header: where it starts in your lines
SHOWN_DIFF_LINES = 30  # the diff is cut after this many lines; the count says how many are left


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def plan(current: str | None, stub_module: str, name: str) -> tuple[str, list[str], int, str]:
    """(the file's new text, the lines of `name` that will go, the line number of the first of
    them, what will happen in words).

    `current` is None when the file does not exist: the whole stub module is written.
    """
    stub_lines = _lines(stub_module)
    found = pristine.region(stub_lines, name)
    if found is None:
        raise ValueError(f"{name} is not in the stubs that came with the exercises (stubs.json)")
    stub_part = stub_lines[found[0] : found[1]]
    if current is None:
        return stub_module, [], 0, "the file is missing: it will be written again from the stub"
    lines = _lines(current)
    mine = pristine.region(lines, name)
    if mine is None:
        new = [*lines, *(["\n", "\n"] if lines else []), *stub_part]
        return "".join(new), [], 0, f"there is no {name} in the file: its stub goes at the end"
    start, end = mine
    old = lines[start:end]
    if old == stub_part:  # already the stub, whatever the rest of the file
        return current, [], start + 1, "nothing to do"
    new = [*lines[:start], *stub_part, *lines[end:]]
    what = f"your {len(old)} lines of {name} will be replaced by the stub's {len(stub_part)}"
    return "".join(new), old, start + 1, what


def _diff(old: list[str], first: int, stub_module: str, name: str) -> list[str]:
    """A unified diff of your `old` lines (from line `first` of the file) against the stub's."""
    stub_lines = _lines(stub_module)
    start, end = pristine.region(stub_lines, name) or (0, 0)
    diff = difflib.unified_diff(old, stub_lines[start:end], n=1, lineterm="")
    lines = []
    for line in list(diff)[2:]:  # without the ---/+++ header
        hunk = HUNK.match(line)
        lines.append(f"line {first + int(hunk.group(1)) - 1}:" if hunk else line.rstrip("\n"))
    if len(lines) > SHOWN_DIFF_LINES:
        rest = len(lines) - SHOWN_DIFF_LINES
        lines = [*lines[:SHOWN_DIFF_LINES], f"... and {rest} more lines"]
    return ["  " + line for line in lines]


def _write(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, keeping its permissions."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    atomic.write_text(path, text, mode=mode)


def _ask(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make reset", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="the exercise to reset")
    parser.add_argument("--ex", metavar="EXERCISE", help="the exercise to reset (EX= with make)")
    parser.add_argument("--yes", action="store_true", help="do not ask (YES=1 with make)")
    args = parser.parse_args(argv)
    name = args.ex or args.exercise
    exercises = manifest.by_id()
    if not name:
        print("make reset: say which exercise, e.g. make reset EX=softmax_stable", file=sys.stderr)
        return 2
    if name not in exercises:
        topic = name in manifest.modules()
        why = "is a topic; reset works on one exercise" if topic else "is not an exercise"
        print(f"make reset: {name!r} {why}. Choose one of: {', '.join(exercises)}", file=sys.stderr)
        return 2
    exercise = exercises[name]
    path = Path("exercises") / f"{exercise.module}.py"
    try:
        stub_module = pristine.load()[exercise.module]
        current = path.read_text(encoding="utf-8") if path.exists() else None
        new, old, first, what = plan(current, stub_module, name)
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as e:
        reason = f"{type(e).__name__}: {e}" if isinstance(e, (KeyError, UnicodeDecodeError)) else e
        print(f"make reset: cannot reset {name}: {reason}", file=sys.stderr)
        return 1
    if new == current:
        print(f"{name} in {path} is already the untouched stub: nothing to reset.")
        return 0
    print(f"Resetting {name} in {path}: {what}.")
    if old:
        print("What changes (- yours, + the stub):")
        print("\n".join(_diff(old, first, stub_module, name)))
    if not args.yes:
        if not sys.stdin.isatty():
            sys.stdout.flush()  # the diff above, before the reason below
            print(
                f"make reset: not resetting {name}: there is no terminal to ask on. "
                "Run it in a terminal, or add YES=1 (--yes) to reset without asking.",
                file=sys.stderr,
            )
            return 1
        try:
            confirmed = _ask(f"Reset {name} in {path}? [y/N] ")
        except KeyboardInterrupt:
            confirmed = False
            print()
        if not confirmed:
            print(f"Not reset: {path} is unchanged.")
            return 0
    try:
        _write(path, new)
    except OSError as e:
        print(
            f"make reset: could not write {path} ({e.strerror or e}); it is unchanged",
            file=sys.stderr,
        )
        return 1
    progress.forget([name])
    kept = (
        "every exercise in it is a stub again"
        if current is None
        else ("your other exercises there are as you left them")
    )
    print(f"Reset {name} in {path}; {kept}.")
    print(f"Start again with: make check EX={name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
