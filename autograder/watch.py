"""`make watch [EX=<exercise or topic>]`: check the exercise you are editing every time you save.

It polls the files in exercises/ (every POLL_SECONDS; no file-watching library needed, so it
works the same on Linux and macOS). On a change it runs `make check` for the exercise being
edited, the EX given or else the first one not done in the file that changed, in a fresh
interpreter each time (your modules and torch's state never linger from one save to the next),
clears the screen and shows the report with your overall progress. When that exercise passes it
moves on to the next one not done, as rustlings does. Ctrl-C leaves (exit status 0).

Importing torch is most of a check's time, so the interpreter for the next check is started
while you edit: it imports torch and the check, then waits on its stdin for what to check (it
has imported none of your modules yet, so it is as fresh as a new one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from . import ROOT, check, manifest, progress

POLL_SECONDS = 0.3
SETTLE_SECONDS = 0.1  # an editor may write a file in more than one step: let it finish
# One check of one exercise takes a few seconds; a check still running after this is stuck
# outside a test (a loop at the top level of a file), where make check's own limit cannot reach.
CHECK_SECONDS = float(os.environ.get("ATTENTION_KIT_WATCH_SECONDS", "120"))
EXERCISES = Path("exercises")
CLEAR = "\033[2J\033[H"
# The spare interpreter: everything slow before the save, your modules only after it.
SPARE = """
import json, sys
import torch
from autograder import check
line = sys.stdin.readline()
sys.exit(check.main(json.loads(line)) if line else 0)
"""

Snapshot = dict[str, tuple[int, int]]


def snapshot(folder: Path) -> Snapshot:
    """{module: (mtime_ns, size)} of every .py file in `folder`, but an editor's lock and
    backup files (.#name.py, #name.py#, name.py~)."""
    out: Snapshot = {}
    for path in folder.glob("*.py"):
        if path.name.startswith((".", "#")):
            continue
        try:
            st = path.stat()
        except OSError:  # removed between the listing and the stat
            continue
        out[path.stem] = (st.st_mtime_ns, st.st_size)
    return out


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Modules added, removed or modified between two snapshots: the exercise modules in
    teaching order, then any others (a helper module of the student's own)."""
    names = {m for m in before.keys() | after.keys() if before.get(m) != after.get(m)}
    ordered = [m for m in manifest.modules() if m in names]
    return ordered + sorted(names - set(ordered))


@dataclass
class Run:
    selector: str | None  # an exercise, a topic, or None for all
    code: int  # make check's exit status; -1 when it was stopped for running too long
    output: str


@dataclass
class Watcher:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    passed: set[str] = field(default_factory=set)
    current: str | None = None  # the exercise being worked on
    spare: subprocess.Popen[str] | None = None  # the next check's interpreter, warming up

    # ---- running the check ----------------------------------------------------------------

    def run_check(self, selector: str | None) -> Run:
        """`python -m autograder.check [--ex selector]` in a fresh interpreter, output captured."""
        self.out.write(f"\nChecking {selector or 'every exercise'}...\n")  # the save was seen
        self.out.flush()
        proc, self.spare = self.spare or self._start(), None
        args = ["--ex", selector] if selector else []
        try:
            output, _ = proc.communicate(json.dumps(args) + "\n", timeout=CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            text = (
                f"The check was still running after {CHECK_SECONDS:g} s and was stopped. "
                "Is there a loop at the top level of one of your files (outside any function)?"
            )
            return Run(selector, -1, text)
        finally:
            if proc.poll() is None:  # interrupted: do not leave it behind
                proc.kill()
                proc.wait()
            self.spare = self._start()
        self._learn(selector, proc.returncode)
        return Run(selector, proc.returncode, output)

    def _start(self) -> subprocess.Popen[str]:
        """A fresh interpreter that imports torch and the check, then waits for its arguments."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONIOENCODING"] = getattr(self.out, "encoding", None) or "utf-8"
        return subprocess.Popen(
            [sys.executable, "-c", SPARE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )

    def close(self) -> None:
        """Stop the spare interpreter."""
        if self.spare is not None:
            self.spare.kill()
            self.spare.communicate()
            self.spare = None

    def _learn(self, selector: str | None, code: int) -> None:
        """What the check just found, from the state file it wrote (and its exit status)."""
        self.passed = progress.load().passed
        if selector in manifest.by_id() and code in (0, 1):  # also right when no state is saved
            (self.passed.add if code == 0 else self.passed.discard)(selector)

    # ---- what to check ----------------------------------------------------------------------

    def pending(self, among: Iterable[manifest.Exercise] | None = None) -> list[str]:
        return [
            e.id for e in (manifest.load() if among is None else among) if e.id not in self.passed
        ]

    def next_after(self, exercise: str) -> str | None:
        """The next exercise not done after `exercise` in teaching order, wrapping around."""
        ids = [e.id for e in manifest.load()]
        i = ids.index(exercise)
        return next((x for x in ids[i + 1 :] + ids[: i + 1] if x not in self.passed), None)

    def target(self, modules: list[str]) -> str | None:
        """What to check after `modules` changed: the current exercise if its file (or a file
        that is not an exercise module) changed, else the first one not done in the first
        changed file, else that whole file. None: everything."""
        by_id = manifest.by_id()
        ours = [m for m in modules if m in manifest.modules()]
        if not ours or (self.current and by_id[self.current].module in ours):
            return self.current
        left = self.pending(e for e in manifest.load() if e.module == ours[0])
        return left[0] if left else ours[0]

    # ---- the screen ---------------------------------------------------------------------------

    def show(self, run: Run, banner: str = "") -> None:
        what = run.selector or "every exercise"
        if run.selector in manifest.by_id():
            what = f"{run.selector} (exercises/{manifest.by_id()[run.selector].module}.py)"
        stamp = datetime.now().strftime("%H:%M:%S")
        lines = [CLEAR if self.out.isatty() else "-" * 72, f"make watch: {what}, checked {stamp}"]
        lines += [banner] if banner else []
        lines += ["", run.output.rstrip(), ""]
        lines += [self.overall()] if run.selector else []  # a full report has its own
        lines += ["Watching exercises/: save a file to check it again. Ctrl-C to leave."]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def overall(self) -> str:
        exercises = manifest.load()
        done = [e for e in exercises if e.id in self.passed]
        points = sum(e.points for e in done)
        total = sum(e.points for e in exercises)
        return (
            f"Overall: {check.progress_bar(len(done), len(exercises))} {len(done)}/"
            f"{len(exercises)} exercises, {points:g}/{total:g} points"
        )

    # ---- the loop -----------------------------------------------------------------------------

    def check_and_show(self, selector: str | None) -> None:
        """Check `selector`, show it; while the current exercise passes, move on to the next."""
        run = self.run_check(selector)
        if selector in manifest.by_id():
            self.current = selector
        else:  # a topic, or everything: on to its first exercise not done, if any
            left = self.pending(e for e in manifest.load() if selector in (None, e.module))
            self.current = left[0] if left else self.current
        passing: list[str] = []  # passed in this round, each then followed by the next
        following: str | None = None
        for _ in manifest.load():  # at most once per exercise
            if run.code != 0 or run.selector != self.current or self.current is None:
                break
            passing.append(self.current)
            following = self.next_after(self.current)
            if following is None:
                break
            self.current = following
            run = self.run_check(following)
        self.show(run, _banner(passing, following))

    def loop(self, selector: str | None, folder: Path = EXERCISES) -> None:
        before = snapshot(folder)
        self.passed = progress.load().passed
        self.check_and_show(selector)
        while True:
            time.sleep(POLL_SECONDS)
            if snapshot(folder) == before:
                continue
            time.sleep(SETTLE_SECONDS)
            now = snapshot(folder)  # what this check sees: a save during it triggers another
            modules, before = changed(before, now), now
            if modules:
                self.check_and_show(self.target(modules))


def _banner(passing: list[str], following: str | None) -> str:
    """The line 'a passes. On to the next one: b.' for the exercises that just passed."""
    if not passing:
        return ""
    names = passing[0] if len(passing) == 1 else ", ".join(passing[:-1]) + " and " + passing[-1]
    verb = "passes" if len(passing) == 1 else "pass"
    then = (
        f"On to the next one: {following}."
        if following
        else "Every exercise passes now. Well done."
    )
    return f"{check._marks()['done']} {names} {verb}. {then}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make watch", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="an exercise or a topic to start with")
    parser.add_argument("--ex", metavar="EXERCISE_OR_TOPIC", help="the same (EX= with make)")
    args = parser.parse_args(argv)
    selector = args.ex or args.exercise
    try:
        manifest.select(selector)
    except ValueError:
        choices = ", ".join([*manifest.modules(), *manifest.by_id()])
        print(f"make watch: there is no exercise or topic called {selector!r}.", file=sys.stderr)
        print(f"Choose one of: {choices}", file=sys.stderr)
        return 2
    if not EXERCISES.is_dir():
        print(
            f"make watch: there is no exercises/ folder in {Path.cwd()}: run it from the folder "
            "that holds exercises/ (where make check works).",
            file=sys.stderr,
        )
        return 2
    watcher = Watcher()
    try:
        watcher.loop(selector)
    except KeyboardInterrupt:
        print("\nStopped watching; your progress is saved in .attention-kit-state.json.")
    finally:
        watcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
