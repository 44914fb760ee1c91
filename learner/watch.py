"""`make watch [EX=<exercise or topic>]`: check the exercise you are editing every time you save.

It polls the files in exercises/ (every POLL_SECONDS; no file-watching library needed, so it
works the same on Linux and macOS). On a change it runs `make check` for what the save changed
(the exercises whose definitions changed and those in the file that use them, the whole file when
something outside them changed or it does not parse, and every file importing a changed one)
together with the exercise being edited (the EX given, or else the first one not done in the
file that changed), in a fresh interpreter each time (your modules and torch's state never linger
from one save to the next), clears the screen and shows the report with your overall progress.
When that exercise passes it moves on to the next one not done, as rustlings does. The overall
progress says which of its results were not measured since the watch started. Ctrl-C leaves
(exit status 0).

Importing torch is most of a check's time, so the interpreter for the next check is started
while you edit: it imports torch and the check, then waits on its stdin for what to check (it
has imported none of your modules yet, so it is as fresh as a new one).
"""

from __future__ import annotations

import argparse
import ast
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

from . import ROOT, check, manifest, parse, progress

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
from learner import check
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


def read_sources(folder: Path) -> dict[str, str]:
    """{module: source} of the .py files `snapshot` sees (an unreadable one is left out)."""
    out = {}
    for module in snapshot(folder):
        try:
            out[module] = (folder / f"{module}.py").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return out


@dataclass(frozen=True)
class Outline:
    """A module's top-level definitions (their AST, without positions) and the names each one
    uses, and the AST of everything else (imports, module-level code); None: does not parse."""

    defs: dict[str, str]
    uses: dict[str, set[str]]
    rest: str
    imports: set[str]  # the last component of every module it imports


def outline(source: str | None) -> Outline | None:
    if source is None:
        return None
    try:
        tree = parse.parse(source)
    except SyntaxError:  # Unparseable too
        return None
    defs, uses, rest, imports = {}, {}, [], set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = ast.dump(node)
            uses[node.name] = {
                n.id if isinstance(n, ast.Name) else n.attr
                for n in ast.walk(node)
                if isinstance(n, (ast.Name, ast.Attribute))
            }
        else:
            rest.append(ast.dump(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name.rpartition(".")[2] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                imports.add(node.module.rpartition(".")[2])
            if not node.module or node.module == EXERCISES.name:
                imports.update(a.name for a in node.names)  # from . import causal_attention
    return Outline(defs, uses, "\n".join(rest), imports)


def affected(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The exercises a change from `old` to `new` sources can have changed the result of, in
    teaching order: in each changed module, the exercises whose definition changed and those
    using a changed definition (or all of them when code outside the definitions changed or
    the module does not parse, before or after); then every exercise of a module importing a
    changed module, and so on."""
    modules = {m for m in old.keys() | new.keys() if old.get(m) != new.get(m)}
    outlines = {m: outline(new.get(m)) for m in old.keys() | new.keys()}
    ids = {e.id for e in manifest.load()}
    hit: set[str] = set()  # exercise ids
    whole: set[str] = set()  # modules
    whole_or_part: set[str] = set()  # modules with a definition changed
    for module in modules:
        before, after = outline(old.get(module)), outlines[module]
        if before is None or after is None or before.rest != after.rest:
            whole.add(module)
            continue
        names = set(before.defs) | set(after.defs)
        changed = {n for n in names if before.defs.get(n) != after.defs.get(n)}
        while True:  # what uses a changed definition, in the same file
            more = {n for n, used in after.uses.items() if used & changed} - changed
            if not more:
                break
            changed |= more
        hit |= changed & ids
        if changed:
            whole_or_part.add(module)
    pending = whole | whole_or_part  # changed in what runs, not only in comments or layout
    seen = set(modules)
    while pending:  # a module importing a changed one: all of it
        module = pending.pop()
        for other, shape in outlines.items():
            if other not in seen and shape is not None and module in shape.imports:
                seen.add(other)
                pending.add(other)
                whole.add(other)
    return [e.id for e in manifest.load() if e.id in hit or e.module in whole]


@dataclass
class Run:
    selector: str | None  # exercises and topics separated by commas, or None for all
    code: int  # make check's exit status; -1 when it was stopped for running too long
    output: str


@dataclass
class Watcher:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    passed: set[str] = field(default_factory=set)
    current: str | None = None  # the exercise being worked on
    measured: set[str] = field(default_factory=set)  # checked since the watch started
    spare: subprocess.Popen[str] | None = None  # the next check's interpreter, warming up

    # ---- running the check ----------------------------------------------------------------

    def run_check(self, selector: str | None) -> Run:
        """`python -m learner.check [--ex selector]` in a fresh interpreter, output captured."""
        what = ", ".join((selector or "every exercise").split(","))
        self.out.write(f"\nChecking {what}...\n")  # the save was seen
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
        if code not in (0, 1):  # it did not run to its end: nothing was measured
            return
        chosen = [e.id for e in check.select(selector)]
        self.measured.update(chosen)
        if code == 0:  # also right when no state is saved
            self.passed.update(chosen)
        elif len(chosen) == 1:
            self.passed.discard(chosen[0])

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
        what = ", ".join((run.selector or "every exercise").split(","))
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
        line = (
            f"Overall: {check.progress_bar(len(done), len(exercises))} {len(done)}/"
            f"{len(exercises)} exercises, {points:g}/{total:g} points"
        )
        unmeasured = len([e for e in exercises if e.id not in self.measured])
        if unmeasured:
            line += f" ({unmeasured} of the {len(exercises)} not checked since this watch started)"
        return line

    # ---- the loop -----------------------------------------------------------------------------

    def check_and_show(self, selector: str | None) -> None:
        """Check `selector`, show it; while the current exercise passes, move on to the next."""
        run = self.run_check(selector)
        if selector in manifest.by_id():
            self.current = selector
        elif selector is None or selector in manifest.modules():
            # a topic, or everything: on to its first exercise not done, if any
            left = self.pending(e for e in manifest.load() if selector in (None, e.module))
            self.current = left[0] if left else self.current
        passing: list[str] = []  # passed in this round, each then followed by the next
        following: str | None = None
        for _ in manifest.load():  # at most once per exercise
            if run.code != 0 or self.current is None or self.current not in self.passed:
                break
            passing.append(self.current)
            following = self.next_after(self.current)
            if following is None:
                break
            self.current = following
            run = self.run_check(following)
        everything = self.measured >= set(manifest.by_id())
        self.show(run, _banner(passing, following, everything))

    def after_save(
        self, modules: list[str], old: dict[str, str], new: dict[str, str]
    ) -> str | None:
        """What to check after a save, as one selector (None: everything): what it changed (see
        `affected`) with the exercise being worked on; in a file all done, what changed in it
        (the whole file if nothing did)."""
        on = self.target(modules)
        if on is None:
            return None
        changed = affected(old, new)
        if on in manifest.modules():
            chosen = set(changed) or {e.id for e in check.select(on)}
        else:
            chosen = {on, *changed}
        return ",".join(e.id for e in manifest.load() if e.id in chosen)

    def loop(self, selector: str | None, folder: Path = EXERCISES) -> None:
        before, sources = snapshot(folder), read_sources(folder)
        self.passed = progress.load().passed
        self.check_and_show(selector)
        while True:
            time.sleep(POLL_SECONDS)
            if snapshot(folder) == before:
                continue
            time.sleep(SETTLE_SECONDS)
            now, new = snapshot(folder), read_sources(folder)  # a save during it: another check
            modules, before = changed(before, now), now
            old, sources = sources, new
            if modules:
                self.check_and_show(self.after_save(modules, old, new))


def _banner(passing: list[str], following: str | None, everything: bool = True) -> str:
    """The line 'a passes. On to the next one: b.' for the exercises that just passed;
    `everything`: every exercise was checked since the watch started."""
    if not passing:
        return ""
    names = passing[0] if len(passing) == 1 else ", ".join(passing[:-1]) + " and " + passing[-1]
    verb = "passes" if len(passing) == 1 else "pass"
    if following:
        then = f"On to the next one: {following}."
    elif everything:
        then = "Every exercise passes now. Well done."
    else:
        then = "The others passed at your last check: make check checks them all again."
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
        close = check.suggest(selector or "")
        if close:
            print(f"Did you mean: {' or '.join(close)}?", file=sys.stderr)
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
