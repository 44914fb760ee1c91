"""`make check`: run the public tests on your exercises and show where each one stands.

One line per exercise in teaching order (✓ done, ✗ failing, · not started or waiting on an
earlier one), a progress bar, then what went wrong in the first failing exercise and a hint.
Exit status 0 once every selected exercise passes, 1 until then, 2 for an unknown EX.
What the student's code printed while a test ran is shown under the failing exercise's report.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import linecache
import os
import re
import sys
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest

from . import attention_maps, manifest, mistakes, progress, siblings, timelimit

PUBLIC = Path(__file__).resolve().parent / "public"
NOT_STARTED = re.compile(r"^(\w+): not started")
MISSING = re.compile(r"^module '([\w.]+)' has no attribute '(\w+)'")
BAR_WIDTH = 30
TEST_SECONDS = timelimit.SECONDS
PRINTED_HEAD, PRINTED_TAIL = 3000, 1000  # what the student printed, cut to a few KB


Stuck = timelimit.Stuck
# pytest plugins `make check` does without: less start-up, and nothing of theirs to print
UNUSED_PLUGINS = (
    "cacheprovider",
    "stepwise",
    "pastebin",
    "junitxml",
    "doctest",
    "legacypath",
    "tmpdir",
    "setuponly",
    "setupplan",
    "faulthandler",
    "unraisableexception",
    "threadexception",
    "logging",
    "warnings",  # a warning from your code is not a failure here
    "monkeypatch",
    "recwarn",
    "unittest",
    "subtests",
    "debugging",
)


@dataclass
class Problem:
    """Why one test did not pass, in the student's terms."""

    kind: str  # "not started", "waiting", "broken" (the module does not import), "failing"
    message: str
    test: str = ""
    question: str = ""
    waiting_on: str = ""
    where: str = ""  # path:line in the student's file, when known
    printed: str = ""  # what the student's code printed during that test


@dataclass
class Status:
    exercise: manifest.Exercise
    passed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def state(self) -> str:
        """One of: done, not started, broken, failing, waiting, no tests."""
        kinds = {p.kind for p in self.problems}
        for kind in ("not started", "broken", "failing", "waiting"):
            if kind in kinds:
                return kind
        return "done" if self.passed else "no tests"

    def first(self, kind: str) -> Problem:
        return next(p for p in self.problems if p.kind == kind)


class Collector:
    """A pytest plugin: keeps the selected exercises' tests and records each outcome."""

    def __init__(self, chosen: list[manifest.Exercise], package: Path) -> None:
        self.status = {e.id: Status(e) for e in chosen}
        self.package = package
        self.known = {e.id for e in manifest.load()}
        self.collect_errors: list[str] = []
        self.stuck_imports: dict[str, str] = {}  # module -> why importing it was stopped
        self.stuck_exercises: dict[str, str] = {}  # exercise -> why one of its tests was stopped

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        keep, drop = [], []
        for item in items:
            mark = item.get_closest_marker("exercise")
            (keep if mark and mark.args[0] in self.status else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> object:
        """Importing the student's module happens here: a loop at its top level is stopped too,
        once per module; the module's other tests then fail at once with the same message."""
        needed = [m for m in getattr(item, "fixturenames", ()) if m in manifest.modules()]
        for module in needed:
            if module in self.stuck_imports:
                raise Stuck(self.stuck_imports[module])
        try:
            return (yield from _time_limited())
        except Stuck as e:
            for module in needed:
                if f"{self.package.name}.{module}" not in sys.modules:
                    self.stuck_imports[module] = str(e)
            raise

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> object:
        """Stop a test stuck in the student's code after TEST_SECONDS (Linux and macOS), once
        per exercise: its other tests then fail at once with the same message."""
        mark = item.get_closest_marker("exercise")
        exercise = mark.args[0] if mark else ""
        if exercise in self.stuck_exercises:
            raise Stuck(self.stuck_exercises[exercise])
        try:
            return (yield from _time_limited())
        except Stuck as e:
            self.stuck_exercises[exercise] = str(e)
            raise

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> pytest.TestReport | None:
        """Record the outcome; for a failure, build the report from our message (no traceback)."""
        mark = item.get_closest_marker("exercise")
        status = self.status.get(mark.args[0]) if mark else None
        excinfo = call.excinfo
        if status is None:
            return None
        if excinfo is None:
            status.passed += call.when == "call"
            return None
        if isinstance(excinfo.value, pytest.skip.Exception):
            return None
        problem = self._problem(item, status.exercise.id, call)
        problem.printed = _printed(item)
        status.problems.append(problem)
        return pytest.TestReport(
            item.nodeid,
            item.location,
            dict.fromkeys(item.keywords, 1),
            "failed",
            f"{problem.kind}: {problem.message}",
            call.when,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
        )

    def _problem(self, item: pytest.Item, exercise: str, call: pytest.CallInfo[None]) -> Problem:
        assert call.excinfo is not None
        exc = call.excinfo.value
        function = getattr(item, "function", None)
        question = ((function.__doc__ if function else None) or "").strip().splitlines()
        base = {"test": item.name, "question": question[0] if question else item.name}
        if isinstance(exc, NotImplementedError):
            m = NOT_STARTED.match(str(exc))
            if m and m.group(1) == exercise:
                return Problem("not started", str(exc), **base)
            if m and m.group(1) in self.known:
                return Problem("waiting", str(exc), waiting_on=m.group(1), **base)
        if isinstance(exc, SyntaxError):
            return Problem("broken", _syntax_error(exc), where=_location(exc), **base)
        where = self._student_frame(call.excinfo.tb)
        if call.when == "setup":  # the module fixture: importing the student's file failed
            module = _shown(self.package / f"{manifest.by_id()[exercise].module}.py")
            text = f"importing {module} raised {type(exc).__name__}: {exc}"
            return Problem("broken", _with_line(text, where), where=where, **base)
        if isinstance(exc, AssertionError) and str(exc):
            return Problem("failing", str(exc), where=where, **base)
        missing = MISSING.match(str(exc)) if isinstance(exc, AttributeError) else None
        if missing and missing.group(1).split(".")[0] == self.package.name:
            module = _shown(self.package / f"{missing.group(1).split('.')[-1]}.py")
            text = f"{module} has no {missing.group(2)}: keep the names the stub gave you."
            return Problem("failing", text, **base)
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        notes = [str(n) for n in getattr(exc, "__notes__", [])]  # "Looks like: ..." from a test
        text = "\n".join([_with_line(text, where), *notes])
        return Problem("failing", text, where=where, **base)

    def _student_frame(self, tb: TracebackType | None) -> str:
        """path:line of the innermost frame inside the student's package, or ""."""
        where = ""
        for frame, line in traceback.walk_tb(tb):
            path = Path(frame.f_code.co_filename).resolve()
            if path.is_relative_to(self.package):
                where = f"{_shown(path)}:{line}"
        return where


def _printed(item: pytest.Item) -> str:
    """What the test's setup and call printed (pytest captured it), cut to a few KB."""
    text = "".join(
        content
        for when, key, content in item._report_sections
        if when in ("setup", "call") and key in ("stdout", "stderr")
    )
    if len(text) > PRINTED_HEAD + PRINTED_TAIL:
        cut = len(text) - PRINTED_HEAD - PRINTED_TAIL
        text = f"{text[:PRINTED_HEAD]}\n... ({cut} characters left out) ...\n{text[-PRINTED_TAIL:]}"
    return text.rstrip("\n")


def _time_limited() -> Generator[None, object, object]:
    """The body of a hook wrapper that raises Stuck in the wrapped phase after TEST_SECONDS."""
    with timelimit.limited():
        return (yield)


def _shown(path: Path | str) -> str:
    """A path relative to the current folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _location(exc: SyntaxError) -> str:
    return f"{_shown(exc.filename or '?')}:{exc.lineno}"


def _syntax_error(exc: SyntaxError) -> str:
    lines = [f"{_shown(exc.filename or '?')}, line {exc.lineno}: Python cannot read this file."]
    if exc.text:
        text = exc.text.rstrip("\n")
        stripped = text.lstrip()
        lines.append(f"    {stripped}")
        if exc.offset:
            lines.append("    " + " " * max(exc.offset - 1 - (len(text) - len(stripped)), 0) + "^")
    lines.append(f"{type(exc).__name__}: {exc.msg}")
    lines.append("Every exercise in this file waits for that fix.")
    return "\n".join(lines)


def _with_line(text: str, where: str) -> str:
    if not where:
        return text
    path, _, line = where.rpartition(":")
    source = linecache.getline(str(Path(path).resolve()), int(line)).strip()
    return f"{text}\n  at {where}" + (f": {source}" if source else "")


# ---- the report ------------------------------------------------------------------------------


def _marks() -> dict[str, str]:
    """✓ ✗ · where the terminal can print them, ASCII where it cannot."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"  # a StringIO has none
    try:
        "✓✗·".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return {"done": "+", "failing": "x", "idle": "."}
    return {"done": "✓", "failing": "✗", "idle": "·"}


def _points(value: float) -> str:
    return f"{value:g}"


def _line(status: Status, marks: dict[str, str], width: int) -> str:
    e, state = status.exercise, status.state
    earned = e.points if state == "done" else 0.0
    mark = {"done": marks["done"], "failing": marks["failing"], "broken": marks["failing"]}.get(
        state, marks["idle"]
    )
    note = {
        "not started": "not started",
        "waiting": f"waiting on {status.first('waiting').waiting_on}" if state == "waiting" else "",
        "broken": f"{status.first('broken').where or e.module + '.py'} does not import"
        if state == "broken"
        else "",
        "no tests": "no tests ran",
    }.get(state, "")
    score = f"{_points(earned):>3}/{_points(e.points):<3}"  # the slashes in one column
    return (f"  {mark} {e.id:<{width}} {score}" + (f"  {note}" if note else "")).rstrip()


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """[#####>-----]: done out of total, rustlings style."""
    filled = width * done // total if total else width
    if done >= total:
        return "[" + "#" * width + "]"
    return "[" + "#" * filled + ">" + "-" * (width - filled - 1) + "]"


def report(statuses: list[Status], selector: str | None, target: str) -> str:
    marks = _marks()
    width = max(len(s.exercise.id) for s in statuses)
    out = [_line(s, marks, width) for s in statuses]
    done = [s for s in statuses if s.state == "done"]
    points = sum(s.exercise.points for s in done)
    total = sum(s.exercise.points for s in statuses)
    scope = f" in {', '.join(selector.split(','))}" if selector else ""
    out += [
        "",
        f"Progress: {progress_bar(len(done), len(statuses))} {len(done)}/{len(statuses)} "
        f"exercises{scope}, {_points(points)}/{_points(total)} points",
    ]
    failing = next((s for s in statuses if s.state in ("failing", "broken")), None)
    if failing is not None:
        out += ["", *_explain(failing, marks)]
    elif len(done) < len(statuses):
        nxt = next(s for s in statuses if s.state != "done")
        out += ["", *_next_up(nxt, target)]
    else:
        out += ["", _all_done(statuses, selector)]
    return "\n".join(out)


def _all_done(statuses: list[Status], selector: str | None) -> str:
    """What passed, in words that do not claim more than was checked."""
    total = len(manifest.load())
    if len(statuses) == total:
        return "Every exercise passes. Well done."
    if len(statuses) == 1:
        return (
            f"{statuses[0].exercise.id} passes. It is the only exercise this check ran: "
            f"make check runs all {total}."
        )
    return (
        f"Every exercise in {selector} passes: {len(statuses)} of the {total} exercises were "
        "checked; make check runs them all."
    )


def _explain(status: Status, marks: dict[str, str]) -> list[str]:
    e = status.exercise
    problem = status.first(status.state)
    if problem.kind == "broken":  # no test could run: the file itself is the problem
        out = [f"{marks['failing']} {e.id}: its file cannot be imported"]
        out += ["  " + line for line in problem.message.splitlines()]
        out += [*_printed_lines(problem.printed), ""]
    else:
        out = [f"{marks['failing']} {e.id}: {problem.question}"]
        out += ["  " + line for line in problem.message.splitlines()]
        out += _printed_lines(problem.printed)
        hint = mistakes.hint_for(e, problem.test, problem.message)
        out += ["", f"Hint: {hint}"] if hint else [""]
    out += [f"Check it again with: make check EX={e.id}"]
    return out


def _printed_lines(printed: str) -> list[str]:
    if not printed:
        return []
    return ["", "  Your code printed:", *("  | " + line for line in printed.splitlines())]


def _next_up(status: Status, target: str) -> list[str]:
    e = status.exercise
    if status.state == "waiting":
        other = status.first("waiting").waiting_on
        return [f"Next: {e.id} is written but calls {other}, which is not started yet."]
    return [
        f"Next: {e.id} in {target}/{e.module}.py ({e.title}).",
        f"  TODO: {e.todo}.",
        f"  Then run: make check EX={e.id}",
    ]


# ---- running ---------------------------------------------------------------------------------


def run(chosen: list[manifest.Exercise], target: str) -> tuple[list[Status], str, int]:
    """Run the public tests of `chosen` on the package `target`: statuses, output, exit code."""
    package = importlib.import_module(target)  # found from here, before pytest touches sys.path
    folder = Path(package.__file__ or "").resolve().parent
    # `from causal_attention import CausalAttention` between the student's files
    siblings.install(target, [p.stem for p in folder.glob("*.py") if p.stem != "__init__"])
    collector = Collector(chosen, folder)
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = [
        str(PUBLIC),
        f"--target={target}",
        "-c",
        str(PUBLIC / "pytest.ini"),
        f"--rootdir={PUBLIC}",
        "--assert=plain",
        "-q",
        "--tb=short",
        *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = pytest.main(args, plugins=[collector])
    statuses = [collector.status[e.id] for e in chosen]
    return statuses, buffer.getvalue() + "\n".join(collector.collect_errors), int(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make check", description="Run the public tests on your exercises."
    )
    parser.add_argument("--ex", metavar="EXERCISE_OR_TOPIC", help="one exercise or one topic")
    parser.add_argument("--target", default="exercises", help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot", action="store_true", help="also draw the attention heatmap as build/plots/*.png"
    )
    args = parser.parse_args(argv)
    try:
        chosen = select(args.ex)
    except ValueError as e:
        print(_unknown(str(e)), file=sys.stderr)
        return 2
    try:
        statuses, output, code = run(chosen, args.target)
    except KeyboardInterrupt:
        return 130
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        print(output.rstrip(), file=sys.stderr)
        print(
            f"\nmake check: the public tests could not run (pytest exit {code}).", file=sys.stderr
        )
        return 3
    newly: list[str] = []
    if args.target == "exercises":  # remembered for make hint and make watch, before printing
        newly = progress.record({s.exercise.id: s.state == "done" for s in statuses})
    status = 0 if all(s.state == "done" for s in statuses) else 1
    try:
        print(report(statuses, args.ex, args.target), flush=True)
        heatmap = attention_maps.after_check(statuses, args.ex, args.target, plot=args.plot)
        if heatmap:
            print("\n" + heatmap)
        if newly:
            print(f"\nNewly passing since your last check: {', '.join(newly)}")
        sys.stdout.flush()
    except BrokenPipeError:  # `make check | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
    return status


def select(selector: str | None) -> list[manifest.Exercise]:
    """The exercises named by `selector`: an exercise, a topic, or several of them separated by
    commas (as make watch asks), in teaching order. ValueError(the unknown name) otherwise."""
    names = [n.strip() for n in (selector or "").split(",") if n.strip()]
    chosen: set[str] = set()
    for name in names:
        try:
            chosen.update(e.id for e in manifest.select(name))
        except ValueError:
            raise ValueError(name) from None
    return [e for e in manifest.load() if not names or e.id in chosen]


def suggest(name: str) -> list[str]:
    """The exercises and topics whose names are closest to a mistyped `name`."""
    known = [*manifest.modules(), *manifest.by_id()]
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    ratio = {c: difflib.SequenceMatcher(None, name.lower(), c).ratio() for c in close}
    best = max(ratio.values(), default=0.0)
    return [lowered[c] for c in close if ratio[c] >= best - 0.1]  # a clear winner alone


def _unknown(name: str) -> str:
    if name in manifest.dropped():
        return f"make check: {name} is not part of this course this term (nothing to check)."
    exercises = manifest.load()
    ids = [e.id for e in exercises]
    rows = [ids[i : i + 4] for i in range(0, len(ids), 4)]
    close = suggest(name)
    return "\n".join(
        [
            f"make check: there is no exercise or topic called {name!r}.",
            *([f"Did you mean: {' or '.join(close)}?"] if close else []),
            f"Topics:    {', '.join(manifest.modules())}",
            "Exercises: " + ",\n           ".join(", ".join(r) for r in rows),
            f"For example: make check EX={close[0] if close else 'softmax_stable'}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
