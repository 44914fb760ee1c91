"""`make hint [EX=<exercise or topic>]`: the next hint, one at a time (hints are in the manifest).

Each call shows the next hint not yet shown (1 of N, 2 of N, ...); after the last it says there
are no more and shows the last again. Without EX: the first exercise that did not pass at your
last `make check`. The hints shown are remembered in .attention-kit-state.json.
Exit status 0, or 2 for an unknown EX.
"""

from __future__ import annotations

import argparse
import sys

from . import manifest, progress


def pick(selector: str | None, state: progress.State) -> tuple[manifest.Exercise | None, str]:
    """The exercise to give a hint for, and a note on why that one ("" when named)."""
    exercises = manifest.by_id()
    if selector in exercises:
        return exercises[selector], ""
    pending = [e for e in manifest.select(selector) if e.id not in state.passed]  # ValueError
    scope = f" in {selector}" if selector else ""
    if not pending:
        return None, f"Every exercise{scope} passed at your last check: no hint needed."
    if not state.last_check:
        return pending[0], f"(no make check has run yet, so starting with the first{scope})"
    return pending[0], f"(the first exercise{scope} that did not pass at your last check)"


def next_hint(exercise: manifest.Exercise, shown: int) -> tuple[list[str], int]:
    """The lines to print and the new count of hints shown, given `shown` so far."""
    hints, n = exercise.hints, len(exercise.hints)
    if n == 0:
        return [f"{exercise.id} has no hints. Its TODO: {exercise.todo}."], 0
    if shown < n:
        return [f"Hint {shown + 1} of {n} for {exercise.id}: {hints[shown]}"], shown + 1
    return [
        f"No more hints for {exercise.id}: that was all {n}. The last one again:",
        f"Hint {n} of {n}: {hints[-1]}",
    ], n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make hint", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="an exercise or a topic")
    parser.add_argument("--ex", metavar="EXERCISE_OR_TOPIC", help="the same (EX= with make)")
    args = parser.parse_args(argv)
    selector = args.ex or args.exercise
    state = progress.load()
    try:
        exercise, note = pick(selector, state)
    except ValueError:
        choices = ", ".join([*manifest.modules(), *manifest.by_id()])
        print(f"make hint: there is no exercise or topic called {selector!r}.", file=sys.stderr)
        print(f"Choose one of: {choices}", file=sys.stderr)
        return 2
    if exercise is None:
        print(f"{note} For a particular one: make hint EX=<exercise>")
        return 0
    lines, shown = next_hint(exercise, state.hints.get(exercise.id, 0))
    if note:
        print(f"{exercise.id} {note}")
    print("\n".join(lines))
    if shown < len(exercise.hints):
        print(f"Another one: make hint EX={exercise.id}")
    if shown != state.hints.get(exercise.id, 0):
        latest = progress.load() if state.existed else state  # a check may have run meanwhile
        latest.hints[exercise.id] = shown
        progress.save(latest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
