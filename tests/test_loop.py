"""The student's loop end to end: make hint, make reset, make watch and the remembered progress.

Each test runs the real command (`python -m autograder.<command>`, or make) in a subprocess, in a
temp workspace holding `exercises/`; the watch loop and reset's question are driven through a
pseudo-terminal, as a student's terminal would. Every wait is bounded.
"""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder import ROOT, stubs
from learner import manifest, pristine, progress, watch

pytestmark = pytest.mark.slow
STATE = progress.STATE_NAME
EXERCISES = manifest.load()
N = len(EXERCISES)  # the curriculum's numbers, as watch prints them
TOTAL = sum(e.points for e in EXERCISES)
POINTS = {e.id: e.points for e in EXERCISES}
SIMPLE = sum(e.module == "simple_attention" for e in EXERCISES)
WAIT_SECONDS = 180  # the longest any one step may take (a check imports torch: seconds)


def workspace(tmp: Path, base: str) -> Path:
    """tmp/exercises: a copy of the committed stubs ("exercises") or of "solutions"."""
    (tmp / "exercises").mkdir(parents=True)
    for path in (ROOT / base).glob("*.py"):
        shutil.copy(path, tmp / "exercises" / path.name)
    return tmp


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}


def run(ws: Path, module: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m learner.<module>` (a dotted name: that module) in the workspace."""
    name = module if "." in module else f"learner.{module}"
    return subprocess.run(
        [sys.executable, "-m", name, *args],
        cwd=ws,
        env=env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )


def definition(source: str, name: str) -> str:
    """The text of the top-level def or class `name` (the test's own reading, by the parser)."""
    lines = source.splitlines(keepends=True)
    node = next(
        n
        for n in ast.parse(source).body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name
    )
    return "".join(lines[node.lineno - 1 : node.end_lineno])


def stub_text(module: str) -> str:
    return (ROOT / "exercises" / f"{module}.py").read_text()


def solution_text(module: str) -> str:
    return (ROOT / "solutions" / f"{module}.py").read_text()


class Terminal:
    """A command in a pseudo-terminal: what it printed so far, what to type, its exit status."""

    def __init__(self, argv: list[str], cwd: Path, **extra_env: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session of its own, the pty its controlling terminal
            try:
                os.chdir(cwd)
                # Ctrl-C must reach it even when this test run was started with SIGINT ignored
                # (a shell's background job): ignored signals stay ignored across exec
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvpe(argv[0], argv, {**env(), **extra_env})
            finally:
                os._exit(127)
        self.seen = b""
        self.status: int | None = None

    @property
    def text(self) -> str:
        return self.seen.decode("utf-8", "replace").replace("\r\n", "\n")

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise EOFError
            self.seen += chunk

    def expect(self, pattern: str, after: int = 0, timeout: float = WAIT_SECONDS) -> int:
        """Wait until `pattern` (a regex) appears in the output past `after`; its end offset."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.text, after)
            if found:
                return found.end()
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout} s in:\n{self.text[-3000:]}")
            try:
                self._read(0.2)
            except EOFError:
                raise AssertionError(f"exited without {pattern!r}:\n{self.text[-3000:]}") from None

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 30) -> int:
        """The exit status (negative: killed by that signal); kills the child on a timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._read(0.1)
            except EOFError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
        self.kill()
        raise AssertionError(f"still running after {timeout} s:\n{self.text[-3000:]}")

    def kill(self) -> None:
        if self.status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -9
        if self.fd >= 0:  # wait() may have killed it already
            os.close(self.fd)
            self.fd = -1

    def group_is_gone(self) -> bool:
        """Has every process of the command's session (its checks too) exited?"""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return True
        return False


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for t in started:
        t.kill()


# ---- the shipped stubs -----------------------------------------------------------------------


def test_shipped_stubs_are_the_stub_files() -> None:
    """Does stubs.json hold exactly the committed stub of every module, and is it current?"""
    shipped = pristine.load()
    assert shipped == {m: stub_text(m) for m in manifest.modules()}
    assert stubs.expected_stubs()[pristine.STUBS_JSON] == pristine.STUBS_JSON.read_text()


def test_region_of_a_file_that_does_not_parse() -> None:
    """Is an exercise found by its indentation when its file has a syntax error?"""
    source = (
        "import torch\n\n\n@decorated\ndef a(x):\n    return (x\n\n    # note\n\n"
        "def b(x):\n    return x\n"
    )
    lines = source.splitlines(keepends=True)
    assert pristine.region(lines, "a") == (3, 6)  # the decorator to its last statement
    assert pristine.region(lines, "b") == (9, 11)
    assert pristine.region(lines, "c") is None


# ---- the state file --------------------------------------------------------------------------


def test_check_records_progress(tmp_path: Path) -> None:
    """Does make check remember what passed, forget what broke, and say what is newly passing?"""
    ws = workspace(tmp_path, "solutions")
    first = run(ws, "check", "--ex", "simple_attention")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Newly passing" not in first.stdout  # nothing remembered to compare with
    state = json.loads((ws / STATE).read_text())
    simple = [e.id for e in EXERCISES if e.module == "simple_attention"]
    assert sorted(state["passed"]) == sorted(simple)
    assert set(state["first_passed"]) == set(simple)

    path = ws / "exercises" / "simple_attention.py"
    good = path.read_text()
    path.write_text(
        good.replace(
            definition(good, "softmax_stable"),
            definition(stub_text("simple_attention"), "softmax_stable"),
        )
    )
    broken = run(ws, "check", "--ex", "softmax_stable")
    assert broken.returncode == 1
    state = json.loads((ws / STATE).read_text())
    assert "softmax_stable" not in state["passed"]
    assert "softmax_naive" in state["passed"]  # not checked this time: still remembered

    path.write_text(good)
    fixed = run(ws, "check", "--ex", "simple_attention")
    assert fixed.returncode == 0
    assert fixed.stdout.rstrip().endswith("Newly passing since your last check: softmax_stable")
    assert fixed.stderr == ""
    assert [p.name for p in ws.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"version": 1, "passed": "softmax_stable"}', b"\xff\xfe\x00", b"[]"],
    ids=["truncated", "wrong-shape", "not-utf8", "a-list"],
)
def test_corrupt_state_is_replaced(tmp_path: Path, content: bytes) -> None:
    """Does a corrupt state file cost one line on stderr and a fresh file, never a traceback?"""
    ws = workspace(tmp_path, "exercises")
    (ws / STATE).write_bytes(content)
    proc = run(ws, "hint", "causal_mask")
    assert proc.returncode == 0
    assert "Hint 1 of" in proc.stdout
    notice = proc.stderr.strip().splitlines()
    assert len(notice) == 1 and notice[0].startswith(f"note: {STATE} ")
    assert "starting" in notice[0]
    state = json.loads((ws / STATE).read_text())
    assert state["hints"] == {"causal_mask": 1}
    assert run(ws, "hint", "causal_mask").stderr == ""  # replaced: no notice the second time


def test_unwritable_workspace_only_loses_the_memory(tmp_path: Path) -> None:
    """Where the state cannot be saved (a folder in its place), do hints still come, with a
    one-line notice?"""
    ws = workspace(tmp_path, "exercises")
    (ws / STATE).mkdir()
    proc = run(ws, "hint", "causal_mask")
    assert proc.returncode == 0
    assert "Hint 1 of" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("note: ") for line in proc.stderr.strip().splitlines())
    assert "could not save your progress" in proc.stderr


# ---- make hint -------------------------------------------------------------------------------


def test_hints_one_at_a_time_then_no_more(tmp_path: Path) -> None:
    """Does each call show the next hint (1 of N, 2 of N, ...), across separate runs, and after
    the last say there are no more and repeat it?"""
    ws = workspace(tmp_path, "exercises")
    ex = manifest.by_id()["softmax_stable"]
    n = len(ex.hints)
    assert n >= 2
    for i, hint in enumerate(ex.hints, start=1):
        proc = run(ws, "hint", "--ex", ex.id)
        assert proc.returncode == 0 and proc.stderr == ""
        assert f"Hint {i} of {n} for softmax_stable: {hint}" in proc.stdout
        assert ("Another one: make hint EX=softmax_stable" in proc.stdout) == (i < n)
    for _ in range(2):
        proc = run(ws, "hint", ex.id)
        assert f"No more hints for softmax_stable: that was all {n}." in proc.stdout
        assert f"Hint {n} of {n}: {ex.hints[-1]}" in proc.stdout
    other = run(ws, "hint", "causal_mask")  # each exercise counts its own
    assert "Hint 1 of" in other.stdout
    assert json.loads((ws / STATE).read_text())["hints"] == {"softmax_stable": n, "causal_mask": 1}


def test_hint_without_ex_is_for_the_first_not_done(tmp_path: Path) -> None:
    """Without EX, is the hint for the first exercise that did not pass at the last check?"""
    ws = workspace(tmp_path, "exercises")
    first_two = [e.id for e in EXERCISES[:2]]
    third = EXERCISES[2]
    state = progress.State(passed=set(first_two), last_check="2026-01-01T00:00:00+00:00")
    (ws / STATE).write_text(json.dumps(state.to_json()))
    proc = run(ws, "hint")
    assert proc.returncode == 0
    assert f"{third.id} (the first exercise that did not pass at your last check)" in proc.stdout
    assert f"Hint 1 of {len(third.hints)} for {third.id}: {third.hints[0]}" in proc.stdout
    topic = run(ws, "hint", "causal_attention")  # a topic: its first not done
    assert "Hint 1 of" in topic.stdout and " for causal_mask: " in topic.stdout

    everything = progress.State(passed={e.id for e in EXERCISES}, last_check="2026-01-01")
    (ws / STATE).write_text(json.dumps(everything.to_json()))
    done = run(ws, "hint")
    assert done.returncode == 0
    assert "Every exercise passed at your last check: no hint needed." in done.stdout


def test_hint_for_an_unknown_exercise(tmp_path: Path) -> None:
    """Does an unknown EX exit with 2, name it and list what there is?"""
    proc = run(workspace(tmp_path, "exercises"), "hint", "softmax_fancy")
    assert proc.returncode == 2
    assert "no exercise or topic called 'softmax_fancy'" in proc.stderr
    assert "softmax_stable" in proc.stderr and "causal_attention" in proc.stderr
    assert proc.stdout == ""


# ---- make reset ------------------------------------------------------------------------------


def reset_in_terminal(terminals: list[Terminal], ws: Path, answer: bytes) -> Terminal:
    t = Terminal([sys.executable, "-m", "learner.reset", "softmax_stable"], ws)
    terminals.append(t)
    t.expect(re.escape("Reset softmax_stable in exercises/simple_attention.py? [y/N] "))
    t.type(answer)
    t.wait()
    return t


def test_reset_asks_and_keeps_the_other_exercises(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """Does reset show what goes, leave the file alone on anything but y/yes, and on yes put back
    only that exercise's stub, the rest of the file untouched?"""
    ws = workspace(tmp_path, "solutions")
    path = ws / "exercises" / "simple_attention.py"
    mine = path.read_text()
    mine_stable = definition(mine, "softmax_stable")
    for answer in (b"n\r", b"\r", b"maybe\r", b"\x04"):  # no, Enter, anything else, Ctrl-D
        t = reset_in_terminal(terminals, ws, answer)
        assert t.status == 0, t.text
        assert "Not reset: exercises/simple_attention.py is unchanged." in t.text
        assert path.read_text() == mine
    t = reset_in_terminal(terminals, ws, b"yes\r")
    assert t.status == 0, t.text
    assert "What changes (- yours, + the stub):" in t.text
    assert "-    shifted = x - x.amax(dim=dim, keepdim=True)" in t.text
    assert '+    raise NotImplementedError("softmax_stable: not started")' in t.text
    stub_stable = definition(stub_text("simple_attention"), "softmax_stable")
    assert path.read_text() == mine.replace(mine_stable, stub_stable)

    check = run(ws, "check", "--ex", "simple_attention")  # the rest still passes
    lines = {
        line.split()[1]: line.split()[0]
        for line in check.stdout.splitlines()
        if line.startswith("  ") and line.split()[0] in "✓✗·"
    }
    assert lines.pop("softmax_stable") == "·"
    assert set(lines.values()) == {"✓"}


def test_reset_without_a_terminal_refuses_unless_yes(tmp_path: Path) -> None:
    """With stdin not a terminal (a pipe saying yes), does reset refuse, and reset with --yes?"""
    ws = workspace(tmp_path, "solutions")
    ws_state = progress.State(passed={"CausalAttention", "causal_mask"}, last_check="x")
    (ws / STATE).write_text(json.dumps(ws_state.to_json()))
    path = ws / "exercises" / "causal_attention.py"
    mine = path.read_text()
    refused = run(ws, "reset", "--ex", "CausalAttention", stdin="y\n")
    assert refused.returncode == 1
    assert "there is no terminal to ask on" in refused.stderr
    assert "YES=1" in refused.stderr
    assert path.read_text() == mine
    done = run(ws, "reset", "--ex", "CausalAttention", "--yes", stdin="")
    assert done.returncode == 0, done.stderr
    stub = definition(stub_text("causal_attention"), "CausalAttention")
    assert path.read_text() == mine.replace(definition(mine, "CausalAttention"), stub)
    assert json.loads((ws / STATE).read_text())["passed"] == ["causal_mask"]
    again = run(ws, "reset", "--ex", "CausalAttention", "--yes")
    assert again.returncode == 0
    assert "already the untouched stub: nothing to reset" in again.stdout


def test_reset_a_file_that_does_not_parse(tmp_path: Path) -> None:
    """Is an exercise with a syntax error reset by itself, so that its file parses again?"""
    ws = workspace(tmp_path, "solutions")
    path = ws / "exercises" / "numpy_attention.py"
    mine = path.read_text()
    broken_rows = definition(mine, "softmax_rows").replace("-> np.ndarray:", "-> np.ndarray", 1)
    path.write_text(mine.replace(definition(mine, "softmax_rows"), broken_rows))
    proc = run(ws, "reset", "softmax_rows", "--yes")
    assert proc.returncode == 0, proc.stderr
    stub = definition(stub_text("numpy_attention"), "softmax_rows")
    assert path.read_text() == mine.replace(definition(mine, "softmax_rows"), stub)


def test_reset_a_missing_file_or_function(tmp_path: Path) -> None:
    """Is a deleted file written again from the stub, and a deleted exercise added at its end?"""
    ws = workspace(tmp_path, "solutions")
    (ws / "exercises" / "causal_attention.py").unlink()
    proc = run(ws, "reset", "causal_mask", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert (ws / "exercises" / "causal_attention.py").read_text() == stub_text("causal_attention")

    path = ws / "exercises" / "numpy_attention.py"
    mine = path.read_text()
    without = mine.replace(definition(mine, "softmax_rows"), "")
    path.write_text(without)
    proc = run(ws, "reset", "softmax_rows", "--yes")
    assert proc.returncode == 0
    assert "its stub goes at the end" in proc.stdout
    stub = definition(stub_text("numpy_attention"), "softmax_rows")
    assert path.read_text() == without + "\n\n" + stub


@pytest.mark.parametrize(
    ("name", "says"),
    [("softmax_fancy", "'softmax_fancy' is not an exercise"), ("simple_attention", "is a topic")],
)
def test_reset_an_unknown_exercise(tmp_path: Path, name: str, says: str) -> None:
    """Does reset of an unknown name or a whole topic exit with 2 and change nothing?"""
    ws = workspace(tmp_path, "solutions")
    before = {p.name: p.read_text() for p in (ws / "exercises").glob("*.py")}
    proc = run(ws, "reset", name, "--yes")
    assert proc.returncode == 2
    assert says in proc.stderr
    assert {p.name: p.read_text() for p in (ws / "exercises").glob("*.py")} == before


# ---- make watch ------------------------------------------------------------------------------


def replace_definition(path: Path, name: str, body: str) -> None:
    """Save `path` with `name`'s definition replaced by the stub's signature and `body`."""
    text = path.read_text()
    old = definition(text, name)
    header = old[: old.index('"""', old.index('"""') + 3) + 3]  # def line and docstring
    path.write_text(text.replace(old, f"{header}\n{body}"))


def test_watch_checks_each_save_and_moves_on(tmp_path: Path, terminals: list[Terminal]) -> None:
    """On the stubs, does watch show the first report, re-check on each save (failing, then
    passing) in a fresh interpreter each time, move on to the next exercise, and leave on Ctrl-C
    with one line and status 0?"""
    ws = workspace(tmp_path, "exercises")
    path = ws / "exercises" / "simple_attention.py"
    log = ws / "imports.log"  # one line per import of the student's module: the pid importing it
    path.write_text(
        f"import os\nwith open({str(log)!r}, 'a') as f:\n    print(os.getpid(), file=f)\n"
        + path.read_text()
    )
    t = Terminal([sys.executable, "-m", "learner.watch"], ws)
    terminals.append(t)
    at = t.expect(r"Watching exercises/: save a file to check it again\. Ctrl-C to leave\.")
    assert "· attention_scores" in t.text
    assert f"0/{N} exercises, 0/{TOTAL:g} points" in t.text

    replace_definition(path, "attention_scores", "    return query @ inputs.T @ query\n")
    at = t.expect(r"make watch: attention_scores \(exercises/simple_attention\.py\)", at)
    at = t.expect(r"✗ attention_scores", at)
    at = t.expect(r"Watching exercises/", at)

    replace_definition(path, "attention_scores", "    return inputs @ query\n")
    at = t.expect(r"✓ attention_scores passes\. On to the next one: normalize_by_sum\.", at)
    at = t.expect(r"· normalize_by_sum +0/2 +not started", at)
    at = t.expect(
        rf"Overall: \S+ 1/{N} exercises, {POINTS['attention_scores']:g}/{TOTAL:g} points", at
    )
    t.expect(r"Watching exercises/", at)
    assert json.loads((ws / STATE).read_text())["passed"] == ["attention_scores"]
    pids = log.read_text().split()  # the first check, two saves, then normalize_by_sum
    assert len(pids) == 4 and len(set(pids)) == 4, pids

    t.type(b"\x03")
    assert t.wait() == 0, t.text
    tail = t.text[at:]
    assert "Stopped watching; your progress is saved in .attention-kit-state.json." in tail
    assert "Traceback" not in t.text
    assert t.group_is_gone()


def test_watch_stops_a_stuck_check_and_leaves_mid_check(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """Is a check stuck at import (a loop at the top level of a file) stopped after the watch's
    limit and named, and does Ctrl-C while a check runs leave cleanly, leaving no process?"""
    ws = workspace(tmp_path, "exercises")
    path = ws / "exercises" / "causal_attention.py"
    t = Terminal(
        [sys.executable, "-m", "learner.watch", "causal_mask"],
        ws,
        ATTENTION_KIT_WATCH_SECONDS="5",
    )
    terminals.append(t)
    at = t.expect(r"Watching exercises/")
    stub = path.read_text()
    path.write_text(stub + "\nwhile True:  # stopped by the watch's limit\n    pass\n")
    at = t.expect(r"Checking causal_mask, mask_and_renormalize, ", at)  # the whole file changed
    at = t.expect(r"still running after 5 s and was stopped\. Is there a loop at the top level", at)
    at = t.expect(r"Watching exercises/", at)

    path.write_text(stub)
    at = t.expect(r"Checking causal_mask, mask_and_renormalize, ", at)  # the whole file changed
    t.type(b"\x03")  # while that check starts
    assert t.wait() == 0, t.text
    assert t.text[at:].count("Stopped watching;") == 1
    assert "Traceback" not in t.text
    assert t.group_is_gone()


def test_make_watch_with_ex(tmp_path: Path, terminals: list[Terminal]) -> None:
    """Through the Makefile, does `make watch EX=<done exercise>` move straight on to the next
    one not done, and does Ctrl-C leave with one line and no traceback?"""
    ws = workspace(tmp_path, "solutions")
    shutil.copy(ROOT / "Makefile", ws / "Makefile")
    path = ws / "exercises" / "causal_attention.py"
    path.write_text(
        path.read_text().replace(
            definition(path.read_text(), "CausalAttention"),
            definition(stub_text("causal_attention"), "CausalAttention"),
        )
    )
    # READY= : no bootstrap stamp to rebuild in the temp folder; PY= : this interpreter
    argv = ["make", "-s", "READY=", f"PY={sys.executable}", "watch", "EX=causal_mask"]
    t = Terminal(argv, ws)
    terminals.append(t)
    passed = "causal_mask, mask_and_renormalize and causal_attention_weights pass"
    at = t.expect(rf"✓ {passed}\. On to the next one: CausalAttention\.")
    at = t.expect(r"· CausalAttention +0/10 +not started", at)
    at = t.expect(r"Watching exercises/", at)
    t.type(b"\x03")
    t.wait()  # make itself ends by the SIGINT it was sent, as make does
    assert "Stopped watching;" in t.text[at:]
    assert "Traceback" not in t.text and "Interrupt" not in t.text
    assert t.group_is_gone()


def test_make_hint_and_reset_targets(tmp_path: Path) -> None:
    """Do `make hint EX=` and `make reset EX= YES=1` run the commands in the student folder?"""
    ws = workspace(tmp_path, "solutions")
    shutil.copy(ROOT / "Makefile", ws / "Makefile")
    make = ["make", "-s", "READY=", f"PY={sys.executable}"]
    hint = subprocess.run(
        [*make, "hint", "EX=causal_mask"],
        cwd=ws,
        env=env(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert hint.returncode == 0, hint.stderr
    assert "Hint 1 of" in hint.stdout and "causal_mask" in hint.stdout
    reset = subprocess.run(
        [*make, "reset", "EX=causal_mask", "YES=1"],
        cwd=ws,
        env=env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert reset.returncode == 0, reset.stderr
    text = (ws / "exercises" / "causal_attention.py").read_text()
    assert definition(text, "causal_mask") == definition(
        stub_text("causal_attention"), "causal_mask"
    )


def test_attention_kit_subcommands(tmp_path: Path) -> None:
    """Do `attention-kit hint|reset|check` pass their own options through (--ex, --yes)?"""
    ws = workspace(tmp_path, "solutions")
    hint = run(ws, "autograder.cli", "hint", "--ex", "causal_mask")
    assert hint.returncode == 0, hint.stderr
    assert "Hint 1 of" in hint.stdout and "causal_mask" in hint.stdout
    reset = run(ws, "autograder.cli", "reset", "--ex", "causal_mask", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "Reset causal_mask in exercises/causal_attention.py" in reset.stdout
    unknown = run(ws, "autograder.cli", "check", "--ex", "softmax_fancy")
    assert unknown.returncode == 2
    assert "no exercise or topic called 'softmax_fancy'" in unknown.stderr


def test_what_watch_checks_after_a_save() -> None:
    """After a save, is it the current exercise if its file changed, else the first one not done
    in the changed file, else that whole file; and a helper module re-checks the current one?"""
    w = watch.Watcher(passed={"attention_scores", "causal_mask"})
    assert w.target(["simple_attention"]) == "normalize_by_sum"
    w.current = "mask_and_renormalize"
    assert w.target(["causal_attention"]) == "mask_and_renormalize"
    assert w.target(["simple_attention", "causal_attention"]) == "mask_and_renormalize"
    assert w.target(["simple_attention"]) == "normalize_by_sum"
    assert w.target(["my_helpers"]) == "mask_and_renormalize"
    w.passed = {e.id for e in EXERCISES if e.module == "numpy_attention"}
    assert w.target(["numpy_attention"]) == "numpy_attention"  # all done there: the whole file
    assert w.next_after(EXERCISES[-1].id) == EXERCISES[0].id  # wraps around
    before = {"simple_attention": (1, 10), "causal_attention": (1, 10), "mine": (1, 3)}
    after = {"causal_attention": (2, 10), "simple_attention": (1, 11), "new": (1, 1)}
    assert watch.changed(before, after) == ["simple_attention", "causal_attention", "mine", "new"]
    assert watch.changed(before, dict(before)) == []


def test_watch_refuses_what_it_cannot_watch(tmp_path: Path) -> None:
    """Does watch exit with 2 and one clear line for an unknown EX or a folder without
    exercises/, instead of waiting forever?"""
    unknown = run(workspace(tmp_path / "a", "exercises"), "watch", "--ex", "softmax_fancy")
    assert unknown.returncode == 2
    assert "no exercise or topic called 'softmax_fancy'" in unknown.stderr
    typo = run(workspace(tmp_path / "c", "exercises"), "watch", "--ex", "casual_mask")
    assert typo.returncode == 2
    assert "Did you mean: causal_mask?" in typo.stderr
    (tmp_path / "b").mkdir()
    empty = run(tmp_path / "b", "watch")
    assert empty.returncode == 2
    assert "there is no exercises/ folder in" in empty.stderr
    assert "Traceback" not in unknown.stderr + empty.stderr


def test_reset_of_an_untouched_stub_changes_nothing(tmp_path: Path) -> None:
    """Is an exercise that is still its stub left alone, even in a file without a final newline
    and with other exercises solved?"""
    ws = workspace(tmp_path, "exercises")
    path = ws / "exercises" / "simple_attention.py"
    text = path.read_text().replace(
        'raise NotImplementedError("attention_scores: not started")', "return inputs @ query"
    )
    path.write_text(text.rstrip("\n"))
    before = path.read_bytes()
    proc = run(ws, "reset", "softmax_stable", "--yes")
    assert proc.returncode == 0
    assert "already the untouched stub: nothing to reset" in proc.stdout
    assert path.read_bytes() == before


def test_first_check_after_hints_is_not_newly_passing(tmp_path: Path) -> None:
    """When only hints were remembered (no check yet), does the first check claim nothing as
    newly passing?"""
    ws = workspace(tmp_path, "solutions")
    assert run(ws, "hint", "causal_mask").returncode == 0
    proc = run(ws, "check", "--ex", "causal_mask")
    assert proc.returncode == 0
    assert "Newly passing" not in proc.stdout
    assert json.loads((ws / STATE).read_text())["passed"] == ["causal_mask"]


def test_watch_ignores_editor_files(tmp_path: Path) -> None:
    """Does the watch see the .py files only, not an editor's lock or backup files?"""
    (tmp_path / "simple_attention.py").write_text("x = 1\n")
    (tmp_path / ".#simple_attention.py").write_text("user@host.1234")  # a lock file
    (tmp_path / ".#causal_attention.py").symlink_to("simple_attention.py")  # a lock as a link
    (tmp_path / "#simple_attention.py#").write_text("x = 2\n")
    (tmp_path / "simple_attention.py~").write_text("x = 0\n")
    (tmp_path / ".simple_attention.py.swp").write_text("")
    assert set(watch.snapshot(tmp_path)) == {"simple_attention"}


def with_stub(ws: Path, module: str, exercise: str) -> None:
    """Put `exercise` back to its stub in the workspace's copy of `module`."""
    path = ws / "exercises" / f"{module}.py"
    text = path.read_text()
    path.write_text(
        text.replace(definition(text, exercise), definition(stub_text(module), exercise))
    )


def test_watch_checks_what_a_save_broke(tmp_path: Path, terminals: list[Terminal]) -> None:
    """On softmax_stable with everything else passing, a save that finishes softmax_stable and
    breaks attention_scores: does watch check attention_scores too, name it, and not claim
    every exercise passes (nor all of them done)?"""
    ws = workspace(tmp_path, "solutions")
    with_stub(ws, "simple_attention", "softmax_stable")
    path = ws / "exercises" / "simple_attention.py"
    t = Terminal([sys.executable, "-m", "learner.watch"], ws)
    terminals.append(t)
    at = t.expect(r"Watching exercises/")
    assert f"{N - 1}/{N} exercises" in t.text
    text = path.read_text().replace(
        definition(path.read_text(), "softmax_stable"),
        definition(solution_text("simple_attention"), "softmax_stable"),
    )
    broken = text.replace("    return inputs @ query  # (n,)", "    return 2 * (inputs @ query)")
    assert broken != text
    path.write_text(broken)
    at = t.expect(r"make watch: attention_scores, softmax_stable, checked", at)
    end = t.expect(r"Watching exercises/", at)  # first: it reads what arrives meanwhile
    screen = t.text[at:end]
    assert "✗ attention_scores" in screen
    assert "✓ softmax_stable" in screen
    assert "Every exercise passes" not in screen
    done = TOTAL - POINTS["attention_scores"]
    assert re.search(rf"Overall: \S+ {N - 1}/{N} exercises, {done:g}/{TOTAL:g} points\n", screen), (
        screen
    )
    t.type(b"\x03")
    assert t.wait() == 0


def test_watch_after_a_syntax_error_counts_the_whole_file(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """On all_context_vectors (all but it done), a syntax error in its file: does watch check
    every exercise of the file, and count none of them done overall instead of keeping the rest?"""
    ws = workspace(tmp_path, "solutions")
    with_stub(ws, "simple_attention", "all_context_vectors")
    path = ws / "exercises" / "simple_attention.py"
    t = Terminal([sys.executable, "-m", "learner.watch"], ws)
    terminals.append(t)
    at = t.expect(r"Watching exercises/")
    path.write_text(path.read_text().replace("def attention_scores(", "def attention_scores(:"))
    at = t.expect(r"make watch: attention_scores, normalize_by_sum, \S.* checked", at)
    end = t.expect(r"Watching exercises/", at)  # first: it reads what arrives meanwhile
    screen = t.text[at:end]
    for e in EXERCISES:
        if e.module == "simple_attention":
            assert re.search(rf"✗ {e.id} .*does not import", screen), screen
    assert re.search(rf"Overall: \S+ {N - SIMPLE}/{N} exercises", screen), screen
    t.type(b"\x03")
    assert t.wait() == 0


def test_what_a_save_changed() -> None:
    """Are the exercises a save can affect those whose definition changed, those using it in
    the same file, every exercise of a file that no longer parses or whose module-level code
    changed, and of every file importing a changed one; and nothing for a comment?"""
    sol = {m: solution_text(m) for m in manifest.modules()}
    causal = [e.id for e in EXERCISES if e.module == "causal_attention"]
    multi = [e.id for e in EXERCISES if e.module == "multihead_attention"]

    def edit(module: str, old: str, new: str) -> list[str]:
        assert old in sol[module]
        return watch.affected(sol, {**sol, module: sol[module].replace(old, new, 1)})

    assert edit("simple_attention", "return inputs @ query", "return 2 * (inputs @ query)") == [
        "attention_scores"
    ]
    # causal_mask is used by the rest of its file, and multihead_attention imports the file
    assert (
        edit(
            "causal_attention",
            "def causal_mask(num_tokens: int) -> Tensor:\n",
            ("def causal_mask(num_tokens: int) -> Tensor:\n    print(num_tokens)\n"),
        )
        == causal + multi
    )
    assert edit("causal_attention", "def causal_mask(", "def causal_mask(:") == causal + multi
    assert edit("causal_attention", "import torch\n", "import torch\nSCALE = 2\n") == (
        causal + multi
    )
    assert edit("causal_attention", "import torch\n", "import torch\n# a note to myself\n") == []
    assert edit("multihead_attention", "import torch\n", "import torch\nX = 1\n") == multi
    helper = {**sol, "my_helpers": "def f():\n    return 1\n"}
    using = {**helper, "numpy_attention": "import my_helpers\n" + sol["numpy_attention"]}
    changed = {**using, "my_helpers": "def f():\n    return 2\n"}
    numpy_ids = [e.id for e in EXERCISES if e.module == "numpy_attention"]
    assert watch.affected(using, changed) == numpy_ids


def test_watch_says_which_totals_it_did_not_measure() -> None:
    """Does the overall line say how many results were not checked since the watch started?"""
    w = watch.Watcher(passed={e.id for e in EXERCISES})
    assert f"({N} of the {N} not checked since this watch started)" in w.overall()
    w.measured = {e.id for e in EXERCISES}
    assert w.overall().endswith(f"{N}/{N} exercises, {TOTAL:g}/{TOTAL:g} points")
    w.measured.discard("causal_mask")
    assert f"(1 of the {N} not checked since this watch started)" in w.overall()
    assert "Every exercise passes" not in watch._banner(["CausalAttention"], None, False)
    assert "Every exercise passes now" in watch._banner(["CausalAttention"], None, True)


def test_make_check_status_without_makes_own_error_line(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """In a terminal, does a failing `make check` end with its report and no "make: ***" line
    of make's own; from a script (output not a terminal), is make's exit status non-zero, and
    0 once everything passes?"""
    ws = workspace(tmp_path, "solutions")
    shutil.copy(ROOT / "Makefile", ws / "Makefile")
    with_stub(ws, "causal_attention", "causal_mask")
    make = ["make", "READY=", f"PY={sys.executable}", "check"]
    t = Terminal([*make, "EX=causal_mask"], ws)
    terminals.append(t)
    t.expect(r"Then run: make check EX=causal_mask")
    assert t.wait() == 0
    assert "make: ***" not in t.text and "Error 1" not in t.text
    script = subprocess.run(
        [*make, "EX=causal_mask"],
        cwd=ws,
        env=env(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert script.returncode != 0
    assert "0/1 exercises in causal_mask" in script.stdout
    unknown = subprocess.run(
        [*make, "EX=causal_mask_typo"],
        cwd=ws,
        env=env(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert unknown.returncode != 0
    done = subprocess.run(
        [*make, "EX=softmax_stable"],
        cwd=ws,
        env=env(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
