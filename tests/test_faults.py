"""Faults during `attention-kit autograde`: nothing lost, nothing counted twice, nothing left over.

One batch of 112 submissions (the sample class, examples/submissions/, cycled) is graded into
one OUT by runs each interrupted in turn: kill -9 of the whole grader before anything is saved,
at 10%, 50% and 90%, and while the reports are written; Ctrl-C to the process group at 30% and
SIGINT to the CLI alone at 70%; a last run finishes it, and must match one uninterrupted run.
Then: workers killed from outside mid-call, and an OUT that is read-only, full, or fills up
during the run. Every run is a real subprocess in a session of its own, bounded by timeouts; its
process tree is tracked through /proc while it runs, so that anything it leaves alive is found.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT
from learner import manifest

pytestmark = pytest.mark.slow  # whole batches interrupted and resumed

CLASS = ROOT / "examples" / "submissions"
SAMPLES = sorted(p.name for p in CLASS.iterdir())
COPIES = 8  # 8 x 14 = 112 submissions: about 15 s of grading on 2 cores
N = COPIES * len(SAMPLES)
SEED = 20261124
RUN_TIMEOUT = 240.0  # seconds any one run may take before the test gives up on it
GRACE = 10.0  # seconds the processes of a killed run get to disappear
POLL = 0.01  # seconds between looks at the gradebook and /proc
SANDBOX_UID = 61000  # workers run as 61000 + lane
IDS = [e.id for e in manifest.load()]
MAX = {e.id: e.points for e in manifest.load()}


def cycled(subs: Path, copies: int) -> Path:
    """`copies` copies of the sample class: ada00, ben00, ..., oli00, ada01, ..."""
    for i in range(copies):
        for s in SAMPLES:
            shutil.copytree(CLASS / s, subs / f"{s}{i:02d}")
    return subs


def cli(subs: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "autograder.cli",
        "autograde",
        "--submissions",
        str(subs),
        "--out",
        str(out),
        "--seed",
        str(SEED),
        *extra,
    ]


def autograde(subs: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(subs, out, "--quiet"), capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=ROOT
    )


def summary_counts(stdout: str) -> tuple[int, int]:
    """(graded, unchanged) from the run's last line."""
    found = re.search(r"(\d+) graded, (\d+) unchanged", stdout)
    assert found, stdout[-2000:]
    return int(found[1]), int(found[2])


def grades(out: Path) -> dict[str, Any]:
    return json.loads((out / "grades.json").read_text())


def csv_without_dates(out: Path) -> list[list[str]]:
    """grades.csv without its graded_at column (two runs grade at different times)."""
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    when = rows[0].index("graded_at")
    return [row[:when] + row[when + 1 :] for row in rows]


# ---- processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    uid: int
    cmd: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a live process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def processes() -> dict[int, tuple[int, Proc]]:
    """Every live process: pid -> (ppid, Proc). Zombies count as gone."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _stat(pid)
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat is not None and stat[0] != "Z":
            found[pid] = (stat[1], Proc(pid, stat[2], uid, cmd.strip()[:120]))
    return found


def tree(root: int) -> set[Proc]:
    """`root` and every process below it."""
    procs = processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            found.add(procs[pid][1])
            todo += children.get(pid, [])
    return found


def still_alive(seen: set[Proc]) -> set[Proc]:
    alive = set()
    for p in seen:
        stat = _stat(p.pid)
        if stat is not None and stat[0] != "Z" and stat[2] == p.start:
            alive.add(p)
    return alive


def default_sigint() -> None:
    """SIGINT as a terminal's process has it, even when this test run was started with it
    ignored (a shell's background job): an ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Run:
    """One autograde subprocess in a session of its own, its process tree tracked as it runs."""

    def __init__(self, subs: Path, out: Path, logs: Path, *extra: str) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stderr_path = logs / "stderr"
        with open(logs / "stdout", "w") as so, open(self.stderr_path, "w") as se:
            self.proc = subprocess.Popen(
                cli(subs, out, *extra),
                cwd=ROOT,
                stdout=so,
                stderr=se,
                start_new_session=True,
                preexec_fn=default_sigint,
            )
        self.began = time.monotonic()
        self.seen: set[Proc] = set()

    def running(self) -> bool:
        """Track the tree; False once the CLI has exited."""
        if time.monotonic() - self.began > RUN_TIMEOUT:
            self.kill()
            raise AssertionError(f"autograde ran over {RUN_TIMEOUT} s")
        self.seen |= tree(self.proc.pid)
        return self.proc.poll() is None

    def until(self, condition: Callable[[], bool]) -> bool:
        """Poll until `condition` holds (True) or the run ends first (False)."""
        while self.running():
            if condition():
                return True
            time.sleep(POLL)
        return False

    def kill(self) -> None:
        """kill -9 of the CLI's process group: the CLI, its lanes and their zygotes at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def leftovers(self) -> set[Proc]:
        """What of the run is still alive after GRACE seconds."""
        deadline = time.monotonic() + GRACE
        while (alive := still_alive(self.seen)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return alive

    def wait(self) -> int:
        return self.proc.wait(timeout=max(1.0, RUN_TIMEOUT - (time.monotonic() - self.began)))

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def progress_total(self) -> int | None:
        """How many submissions this run set out to grade, from its progress lines."""
        found = re.search(r"\] \d+/(\d+) ", self.stderr())
        return int(found[1]) if found else None


def sandboxed(run: Run) -> list[Proc]:
    """The run's workers: processes below it running as a sandbox uid."""
    return [p for p in tree(run.proc.pid) if p.uid >= SANDBOX_UID and p.uid < 65534]


# ---- the gradebook, read-only --------------------------------------------------------------


@dataclass
class Book:
    started: dict[str, float] = field(default_factory=dict)  # student -> when grading began
    results: dict[str, int] = field(default_factory=dict)  # student -> rows in results
    students: int = 0  # rows in the students table
    orphans: int = 0  # results rows with no submission

    @property
    def saved(self) -> int:
        return len(self.started)


def read_book(path: Path) -> Book:
    """The gradebook as a reader sees it now (an empty Book before the file exists)."""
    if not path.exists():
        return Book()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute(
            "SELECT s.student, s.started, COUNT(r.submission) FROM submissions s "
            "LEFT JOIN results r ON r.submission = s.id GROUP BY s.id"
        ).fetchall()
        students = db.execute("SELECT COUNT(*) FROM students").fetchone()[0]
        orphans = db.execute(
            "SELECT COUNT(*) FROM results WHERE submission NOT IN (SELECT id FROM submissions)"
        ).fetchone()[0]
    assert len({r[0] for r in rows}) == len(rows), "a student saved twice"
    return Book({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, students, orphans)


def saved(path: Path) -> int:
    """Students saved so far; 0 while the gradebook is still being created."""
    try:
        return read_book(path).saved
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def checks_per_submission() -> int:
    """Rows every saved submission must have in results: one per hidden check."""
    from autograder.grading import suite

    return len(suite.discover())


def assert_whole(book: Book, checks: int) -> None:
    """Whole students only: one row each, every check's result, no stray result rows."""
    assert book.students == book.saved
    partial = {s: n for s, n in book.results.items() if n != checks}
    assert not partial, f"students with a partial set of results (want {checks}): {partial}"
    assert book.orphans == 0


# ---- the batch and its uninterrupted grading -----------------------------------------------


@pytest.fixture(scope="module")
def class_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cycled(tmp_path_factory.mktemp("batch") / "submissions", COPIES)


@pytest.fixture(scope="module")
def clean(class_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of the batch graded once without interruption: what every faulty run must match."""
    out = tmp_path_factory.mktemp("clean") / "out"
    proc = autograde(class_batch, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert summary_counts(proc.stdout) == (N, 0)
    return out


# ---- one batch interrupted seven times, each run resuming the last -------------------------

HUNG = 60.0  # seconds after SIGINT past which a run counts as hung (a bound, not a speed asserted)
INTERRUPTED = (  # the CLI's last line after Ctrl-C
    "interrupted: every student graded so far is saved in {book}; "
    "run the same command again to resume"
)


@dataclass(frozen=True)
class Stop:
    """An interruption: when (the share of the batch saved) and how."""

    name: str
    fraction: float
    how: str  # "kill": kill -9 of the process group; "ctrl-c": SIGINT to the process group, as
    # a terminal sends it; "sigint": SIGINT to the CLI alone


STOPS = [
    Stop("start", 0.0, "kill"),  # while the lanes grade the reference: nothing saved yet
    Stop("10%", 0.10, "kill"),
    Stop("ctrl-c", 0.30, "ctrl-c"),
    Stop("50%", 0.50, "kill"),
    Stop("sigint", 0.70, "sigint"),
    Stop("90%", 0.90, "kill"),
    Stop("report", 1.0, "kill"),  # while the reports are written
]
KILLS = ["10%", "50%", "90%"]


@dataclass
class Stopped:
    hit: bool  # the interruption landed where it was aimed (the run had not finished first)
    aimed: int  # students saved when it was sent
    before: Book  # the gradebook when the run started
    after: Book  # the gradebook once the run was gone
    leftovers: set[Proc]
    progress_total: int | None  # the run's own count of submissions to grade
    returncode: int
    exit_seconds: float  # from the signal to the CLI's exit
    stderr: str
    report_files: int  # feedback files present afterwards


@dataclass
class Chain:
    out: Path
    stops: dict[str, Stopped]
    final: subprocess.CompletedProcess[str]
    final_book: Book

    def next_total(self, name: str) -> int | None:
        """How many submissions the run after `name` set out to grade (None after the last)."""
        names = list(self.stops)
        later = names[names.index(name) + 1 :]
        return self.stops[later[0]].progress_total if later else None


def arrived(stop: Stop, run: Run, out: Path) -> bool:
    """Has the run reached the moment `stop` waits for?"""
    book = out / "gradebook.sqlite"
    if stop.name == "start":  # a worker exists: the lanes grade the reference
        return saved(book) == 0 and bool(sandboxed(run))
    if stop.name == "report":  # results/ appears after the last student is saved
        return (out / "results").exists()
    return saved(book) >= math.ceil(stop.fraction * N)


def interrupt(run: Run, how: str) -> float:
    """Send the interruption and wait for the CLI to exit; seconds it took (inf: never)."""
    run.running()  # the tree as it is at the signal
    sent = time.monotonic()
    if how == "kill":
        run.kill()
        return time.monotonic() - sent
    if how == "ctrl-c":
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        os.kill(run.proc.pid, signal.SIGINT)
    try:
        run.proc.wait(timeout=HUNG)
    except subprocess.TimeoutExpired:
        run.kill()
        return math.inf
    return time.monotonic() - sent


@pytest.fixture(scope="module")
def chain(class_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """One OUT, graded by runs each interrupted as STOPS says, then a last run that finishes."""
    tmp = tmp_path_factory.mktemp("chain")
    out, book = tmp / "out", tmp / "out" / "gradebook.sqlite"
    stops: dict[str, Stopped] = {}
    for stop in STOPS:
        aimed = math.ceil(stop.fraction * N)
        before = read_book(book)
        run = Run(class_batch, out, tmp / stop.name)
        hit = run.until(functools.partial(arrived, stop, run, out))
        took = interrupt(run, stop.how)
        stops[stop.name] = Stopped(
            hit,
            aimed,
            before,
            read_book(book),
            run.leftovers(),
            run.progress_total(),
            run.proc.returncode,
            took,
            run.stderr(),
            len(list((out / "feedback").glob("*.md"))),
        )
    final = autograde(class_batch, out)
    return Chain(out, stops, final, read_book(book))


def test_kill_before_anything_is_saved(chain: Chain, checks_per_submission: int) -> None:
    """Does a kill -9 while the lanes still grade the reference leave a usable gradebook with
    no one in it, no process behind, and the next run grade everyone?"""
    k = chain.stops["start"]
    assert k.hit, "the run ended before a worker was seen"
    assert k.after.saved == 0
    assert_whole(k.after, checks_per_submission)
    assert k.leftovers == set()
    assert chain.next_total("start") == N


@pytest.mark.parametrize("name", KILLS)
def test_kill_mid_batch_loses_and_duplicates_no_one(
    chain: Chain, checks_per_submission: int, name: str
) -> None:
    """Does a kill -9 at this point leave whole students only, keep everyone saved before as
    they were, leave no process behind, and the next run set out to grade exactly the rest?"""
    k = chain.stops[name]
    assert k.hit, f"the run ended before {k.aimed} students were saved"
    assert k.aimed <= k.after.saved < k.aimed + N // 10, "the kill landed far from its mark"
    assert_whole(k.after, checks_per_submission)
    kept = {s: t for s, t in k.after.started.items() if s in k.before.started}
    assert kept == k.before.started, "a student saved by an earlier run was graded again"
    assert k.leftovers == set()
    assert chain.next_total(name) == N - k.after.saved


@pytest.mark.parametrize("name", ["ctrl-c", "sigint"])
def test_ctrl_c_stops_promptly_and_the_next_run_resumes(
    chain: Chain, checks_per_submission: int, name: str
) -> None:
    """Does SIGINT mid-batch (to the terminal's process group, or to the CLI alone) end the run
    within a few students of the mark (not after the batch, not hung) with one line and exit
    code 130, no lane, zygote or worker left, whole students only, and the next run resume
    where it stopped?"""
    k = chain.stops[name]
    assert k.hit, f"the run ended before {k.aimed} students were saved"
    assert k.exit_seconds != math.inf, f"still running {HUNG:g} s after Ctrl-C"
    assert k.after.saved < k.aimed + N // 10, "the run graded on after Ctrl-C"
    assert k.returncode == 130
    assert "Traceback" not in k.stderr, k.stderr[-3000:]
    book = chain.out / "gradebook.sqlite"
    assert k.stderr.splitlines()[-1] == INTERRUPTED.format(book=book)
    assert k.leftovers == set()
    assert k.aimed <= k.after.saved < N
    assert_whole(k.after, checks_per_submission)
    kept = {s: t for s, t in k.after.started.items() if s in k.before.started}
    assert kept == k.before.started
    assert chain.next_total(name) == N - k.after.saved


def test_kill_while_writing_reports(chain: Chain) -> None:
    """Does a kill -9 while the reports are written leave every student saved, and the next
    run rewrite every report from the gradebook, with no temp file left over?"""
    k = chain.stops["report"]
    assert k.hit, "the run ended before it began writing reports"
    if k.report_files >= N:
        pytest.skip("the reports were all written before the kill landed: not hit this time")
    assert k.after.saved == N and k.leftovers == set()
    assert summary_counts(chain.final.stdout) == (0, N)
    for folder, suffix in (("results", ".json"), ("feedback", ".md"), ("feedback", ".html")):
        names = sorted(p.name for p in (chain.out / folder).glob(f"*{suffix}"))
        assert names == sorted(f"{s}{suffix}" for s in chain.final_book.started)
    strays = [str(p) for p in chain.out.rglob(".*") if p.name != "gradebook.sqlite"]
    assert strays == [], "temp files left in OUT"


def test_resumed_batch_equals_uninterrupted_run(
    chain: Chain, clean: Path, checks_per_submission: int
) -> None:
    """After seven interruptions, does the batch end with every student graded exactly once,
    and with the grades of an uninterrupted run?"""
    assert chain.final.returncode == 0, chain.final.stderr[-3000:]
    assert chain.final_book.saved == N
    assert_whole(chain.final_book, checks_per_submission)
    # each student keeps the grading of the run that first saved it
    for k in chain.stops.values():
        for student, started in k.after.started.items():
            assert chain.final_book.started[student] == started, student
    assert grades(chain.out) == grades(clean)
    assert csv_without_dates(chain.out) == csv_without_dates(clean)


# ---- workers killed from outside -----------------------------------------------------------

SLEEP = 0.1  # seconds a sleeper's function sleeps on every call: when its worker is killed
MARK = "# fault test: "  # first line of a special student's simple_attention.py
# student -> (module, the line of ada's code the sleep goes before); the names sort among the
# sample class, so the other lane is grading an ordinary student when a sleeper is killed
SLEEPERS = {
    "b_sleeps_first": ("simple_attention", "    return inputs @ query  # (n,)"),
    "g_sleeps_midway": ("trainable_attention", "    return weights @ values  # (n, d_out)"),
    "j_sleeps_last": (
        "multihead_attention",
        "        return torch.cat([head(x) for head in self.heads], dim=-1)",
    ),
}
CRASHER = "e_crashes"  # aborts (SIGABRT) in attention_scores, every time


def special(subs: Path, student: str, module: str, line: str, before: str) -> None:
    """ada's submission with `before` inserted above `line` of `module`, and the mark."""
    folder = subs / student
    shutil.copytree(CLASS / "ada", folder)
    path = folder / "exercises" / f"{module}.py"
    text = path.read_text()
    assert line in text, line
    indent = line[: len(line) - len(line.lstrip())]
    path.write_text(text.replace(line, f"{indent}{before}\n{line}", 1))
    first = folder / "exercises" / "simple_attention.py"
    first.write_text(f"{MARK}{student}\n" + first.read_text())


def identify(p: Proc) -> str | None:
    """The special student a worker grades, "" for anyone else, None before it has the files."""
    try:
        with open(f"/proc/{p.pid}/root/exercises/simple_attention.py") as f:
            first = f.readline()
    except OSError:
        return None
    return first[len(MARK) :].strip() if first.startswith(MARK) else ""


def asleep(p: Proc) -> bool:
    try:
        return "nanosleep" in Path(f"/proc/{p.pid}/wchan").read_text()
    except OSError:
        return False


def grade_and_harm(subs: Path, out: Path, logs: Path) -> tuple[set[str], set[Proc]]:
    """Grade `subs`, and whenever a sleeper not yet hit sleeps inside a call, kill -9 it and the
    run's other workers busy with ordinary students (never a retry: not a sleeper already hit,
    not a worker before it has its files). Returns the sleepers hit and what was left alive."""
    run = Run(subs, out, logs, "--quiet")
    hit: set[str] = set()
    while run.running():
        workers = [(p, identify(p)) for p in sandboxed(run)]
        due = {str(who) for p, who in workers if who in SLEEPERS and who not in hit and asleep(p)}
        if due:
            for p, who in workers:
                if who in due or who == "":
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGKILL)
            hit |= due
        time.sleep(POLL)
    assert run.wait() == 0, run.stderr()[-3000:]
    return hit, run.leftovers()


def test_worker_killed_from_outside_is_retried(tmp_path: Path) -> None:
    """Are submissions whose workers are killed mid-call (kill -9 of the sandbox uid's
    processes) graded again on a fresh worker, ending with the grades of an unharmed run, and
    is a worker that dies on every call recorded as a crash, not dropped?"""
    subs = tmp_path / "submissions"
    for s in SAMPLES:
        shutil.copytree(CLASS / s, subs / s)
    for student, (module, line) in SLEEPERS.items():
        special(subs, student, module, line, f"import time; time.sleep({SLEEP})")
    crash = "import os; os.abort()"
    special(subs, CRASHER, *SLEEPERS["b_sleeps_first"], crash)
    unharmed = autograde(subs, tmp_path / "unharmed")
    assert unharmed.returncode == 0, unharmed.stderr[-3000:]
    hit, leftovers = grade_and_harm(subs, tmp_path / "harmed", tmp_path / "logs")

    assert hit == set(SLEEPERS), "every sleeper's worker killed once, asleep in a call"
    assert leftovers == set()
    assert grades(tmp_path / "harmed") == grades(tmp_path / "unharmed")

    crasher = grades(tmp_path / "harmed")["students"][CRASHER]
    assert crasher["points"] == {e: 0 if e == "attention_scores" else MAX[e] for e in IDS}
    results = json.loads((tmp_path / "harmed" / "results" / f"{CRASHER}.json").read_text())
    output = next(t["output"] for t in results["tests"] if t["name"].startswith("attention_s"))
    assert "the grading process running your code ended (a crash" in output, output
    feedback = (tmp_path / "harmed" / "feedback" / f"{CRASHER}.md").read_text()
    assert "the grading process running your code ended (a crash" in feedback


# ---- deadlines: each call, and the whole submission -----------------------------------------

TIMEOUT = 3.0  # seconds per call in the deadline batch
BUDGET = 16.0  # seconds per submission in the deadline batch
FUNCTIONS = re.compile(r"^def (\w+)\(", re.M)


def slowed(subs: Path, student: str, lines: dict[str, str], preamble: str = "") -> None:
    """The reference with `lines[f]` run first in each function f of simple_attention.py, and
    `preamble` at its top."""
    folder = subs / student / "exercises"
    folder.mkdir(parents=True)
    for module in manifest.modules():
        shutil.copy(ROOT / "solutions" / f"{module}.py", folder / f"{module}.py")
    path = folder / "simple_attention.py"
    out, current, done = [], None, set()
    for line in path.read_text().splitlines(keepends=True):
        found = FUNCTIONS.match(line)
        current = found[1] if found else current
        out.append(line)
        if "### BEGIN SOLUTION" in line and current in lines:
            out.append(f"    {lines[current]}\n")
            done.add(current)
    assert done == set(lines), set(lines) - done
    path.write_text(preamble + "".join(out))


@pytest.fixture(scope="module")
def deadlines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of one batch, --timeout 3 --budget 16, beside an honest student: a slow but correct
    softmax_stable (1 s a call, 10 s in all), a
    softmax_stable that hangs in its third call only (its second check's first), and a
    simple_attention.py that sleeps 2 s in every call (right answers, past the budget early in
    the module: attention_scores's 6 calls take 12 s, normalize_by_sum's second runs into 16 s,
    whatever the load adds)."""
    tmp = tmp_path_factory.mktemp("deadlines")
    subs = tmp / "submissions"
    shutil.copytree(CLASS / "ada", subs / "ada")
    slowed(subs, "slow_correct", {"softmax_stable": "time.sleep(1)"}, "import time\n")
    hang = "CALLS.append(1); time.sleep(30 if len(CALLS) == 3 else 0)  # bounded"
    slowed(subs, "hangs_once", {"softmax_stable": hang}, "import time\nCALLS = []\n")
    every = dict.fromkeys(FUNCTIONS.findall((ROOT / "solutions/simple_attention.py").read_text()))
    slowed(subs, "sleeper", dict.fromkeys(every, "time.sleep(2)"), "import time\n")
    out = tmp / "out"
    limits = ("--timeout", f"{TIMEOUT:g}", "--budget", f"{BUDGET:g}", "--lanes", "2", "--quiet")
    proc = subprocess.run(
        cli(subs, out, *limits), capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def outputs(out: Path, student: str) -> dict[str, str]:
    """exercise -> what the grader said about it to `student`."""
    tests = json.loads((out / "results" / f"{student}.json").read_text())["tests"]
    return {t["name"].split(":")[0]: t["output"] for t in tests}


def test_slow_but_correct_keeps_every_point(deadlines: Path) -> None:
    """Does a submission whose softmax_stable answers each call in 1 s (under the timeout, for
    longer in all than the timeout) keep full marks, no later exercise charged a timeout?"""
    student = grades(deadlines)["students"]["slow_correct"]
    assert student["points"] == MAX, outputs(deadlines, "slow_correct")
    assert grades(deadlines)["students"]["ada"]["points"] == MAX


def test_a_timeout_is_charged_to_the_call_that_was_running(deadlines: Path) -> None:
    """Does a softmax_stable that hangs in its third call (test_softmax_stable_other_dims's first)
    lose only the checks from that one on, every later exercise graded in full on a fresh
    worker?"""
    student = grades(deadlines)["students"]["hangs_once"]
    assert {e: p for e, p in student["points"].items() if p != MAX[e]} == {
        "softmax_stable": student["points"]["softmax_stable"]
    }
    # test_softmax_stable_last_dim (2 calls) passes: its weight 2 of the exercise's 12
    assert student["points"]["softmax_stable"] == round(MAX["softmax_stable"] * 2 / 12, 4)
    said = outputs(deadlines, "hangs_once")["softmax_stable"]
    assert f"test_softmax_stable_other_dims:\ndid not return within {TIMEOUT:g} s" in said, said


def test_the_budget_stops_a_submission_and_says_why(deadlines: Path) -> None:
    """When the budget runs out, do the exercises before it keep their points, the call then
    running say it was stopped, and every later exercise score 0 saying it was not graded
    (with the budget's seconds), while the class beside it is graded in full?"""
    points = grades(deadlines)["students"]["sleeper"]["points"]
    said = outputs(deadlines, "sleeper")
    stopped = [e for e in IDS if "stopped: your code was still running when the" in said[e]]
    assert len(stopped) == 1, said
    cut = IDS.index(stopped[0])
    assert cut >= 1 and all(points[e] == MAX[e] for e in IDS[:cut]), points  # 6 calls: 12 s
    assert f"the {BUDGET:g} s allowed for grading your whole submission ran out" in said[IDS[cut]]
    for e in IDS[cut + 1 :]:
        assert points[e] == 0
        assert f"not graded: the {BUDGET:g} s allowed for grading your whole" in said[e], said[e]
    errors = grades(deadlines)["students"]["sleeper"]["errors"]
    assert errors == [
        "grading stopped when the time allowed for the whole submission ran out: the checks not "
        "run in time score 0"
    ]
    assert grades(deadlines)["students"]["ada"]["points"] == MAX


@pytest.mark.parametrize("value", ["0", "-5", "inf", "nan", "soon"])
def test_budget_must_be_a_positive_number_of_seconds(value: str, capsys: Any) -> None:
    """Is a --budget that is not a positive number of seconds refused before anything runs?"""
    from autograder import cli as kit

    with pytest.raises(SystemExit) as stop:
        kit.main(["autograde", "--submissions", ".", "--out", "unused", "--budget", value])
    assert stop.value.code == 2
    assert "number of seconds" in capsys.readouterr().err


# ---- OUT read-only, full, or filling up ----------------------------------------------------


def private_mounts(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `script` with sh in a private mount namespace: its mounts vanish with it."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a read-only or a small OUT privately")
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-eu", "-c", script],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=ROOT,
        env={**os.environ, "PY": sys.executable, "SEED": str(SEED), **env},
    )


# bounded inside the namespace too: a hung CLI is killed there, not left behind
AUTOGRADE = (
    'timeout -s KILL 100 "$PY" -m autograder.cli autograde --quiet --submissions "$SUBS" '
    '--seed "$SEED"'
)


def test_read_only_out_is_refused_before_grading(tmp_path: Path) -> None:
    """Is a read-only OUT (and a new OUT inside one) refused with one line and exit code 2
    before anything is graded, leaving it untouched?"""
    subs = cycled(tmp_path / "submissions", 1)
    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    logs.mkdir()
    script = f"""
        mount --bind "$OUT" "$OUT"
        mount -o remount,bind,ro "$OUT"
        set +e
        {AUTOGRADE} --out "$OUT" > "$LOGS/1.out" 2> "$LOGS/1.err"; echo $? > "$LOGS/1.rc"
        {AUTOGRADE} --out "$OUT/new" > "$LOGS/2.out" 2> "$LOGS/2.err"; echo $? > "$LOGS/2.rc"
    """
    proc = private_mounts(script, {"OUT": str(out), "SUBS": str(subs), "LOGS": str(logs)})
    assert proc.returncode == 0, proc.stderr
    for n, where in (("1", out), ("2", out / "new")):
        assert (logs / f"{n}.rc").read_text().strip() == "2"
        assert (logs / f"{n}.out").read_text() == ""
        assert (logs / f"{n}.err").read_text() == (
            f"error: cannot write reports to {where}: Read-only file system; choose another --out\n"
        )
    assert list(out.iterdir()) == []


def test_full_out_is_refused_before_grading(tmp_path: Path) -> None:
    """Is a full OUT refused with one line and exit code 2 before anything is graded, with
    nothing written into it?"""
    subs = cycled(tmp_path / "submissions", 1)
    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    logs.mkdir()
    script = f"""
        mount -t tmpfs -o size=256k tmpfs "$OUT"
        dd if=/dev/zero of="$OUT/filler" bs=4k 2>/dev/null || true
        set +e
        {AUTOGRADE} --out "$OUT" > "$LOGS/out" 2> "$LOGS/err"; echo $? > "$LOGS/rc"
        ls -A "$OUT" > "$LOGS/ls"
    """
    proc = private_mounts(script, {"OUT": str(out), "SUBS": str(subs), "LOGS": str(logs)})
    assert proc.returncode == 0, proc.stderr
    assert (logs / "rc").read_text().strip() == "2"
    assert (logs / "out").read_text() == ""
    assert (logs / "err").read_text() == (
        f"error: cannot write reports to {out}: No space left on device; "
        "free some space or choose another --out\n"
    )
    assert (logs / "ls").read_text().split() == ["filler"]


def test_out_filling_up_mid_batch_keeps_whole_students(
    tmp_path: Path, clean: Path, checks_per_submission: int
) -> None:
    """When OUT fills up during grading, does the run stop with one line and exit code 2,
    keeping only whole students, and once space is freed does a rerun grade exactly the rest?"""
    subs = tmp_path / "submissions"
    for s in SAMPLES:
        shutil.copytree(CLASS / s, subs / s)
    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    (logs / "book").mkdir(parents=True)
    # 4 MB, 256 KB of it free: room for the write check (64 KB) and a few students
    script = f"""
        mount -t tmpfs -o size=4m tmpfs "$OUT"
        dd if=/dev/zero of="$OUT/filler" bs=1k count=3840 2>/dev/null
        set +e
        {AUTOGRADE} --out "$OUT" > "$LOGS/1.out" 2> "$LOGS/1.err"; echo $? > "$LOGS/1.rc"
        cp "$OUT"/gradebook.sqlite* "$LOGS/book/"
        rm "$OUT/filler"
        {AUTOGRADE} --out "$OUT" > "$LOGS/2.out" 2> "$LOGS/2.err"; echo $? > "$LOGS/2.rc"
        cp "$OUT/grades.json" "$LOGS/grades.json"
    """
    proc = private_mounts(script, {"OUT": str(out), "SUBS": str(subs), "LOGS": str(logs)})
    assert proc.returncode == 0, proc.stderr
    assert (logs / "1.rc").read_text().strip() == "2"
    err = (logs / "1.err").read_text()
    said = re.fullmatch(
        rf"error: cannot save \w+ in {out}/gradebook\.sqlite: database or disk is full; "
        r"(\d+) students were saved and are kept: free some space and run again to resume\n",
        err,
    )
    assert said, err
    kept = int(said[1])
    assert 0 < kept < len(SAMPLES), "the disk should fill up mid-batch"
    book = read_book(logs / "book" / "gradebook.sqlite")
    assert book.saved == kept
    assert_whole(book, checks_per_submission)

    assert (logs / "2.rc").read_text().strip() == "0", (logs / "2.err").read_text()[-3000:]
    assert summary_counts((logs / "2.out").read_text()) == (len(SAMPLES) - kept, kept)
    got = json.loads((logs / "grades.json").read_text())["students"]
    want = grades(clean)["students"]
    assert got == {s: want[f"{s}00"] for s in SAMPLES}


def test_out_filling_up_while_writing_reports(
    tmp_path: Path, class_batch: Path, clean: Path
) -> None:
    """When OUT fills up while the reports are written, does the run stop with one line and exit
    code 2, leaving no temp file, and once space is freed does a rerun write every report?"""
    out, logs = tmp_path / "out", tmp_path / "logs"
    out.mkdir()
    logs.mkdir()
    # the whole batch already graded; 128 KB free: room for the write check, not the reports;
    # once the filler is gone, room for all of OUT as the clean run wrote it, and 4 MB more
    room = sum(p.stat().st_size + 4096 for p in clean.rglob("*") if p.is_file()) // 1024 + 4096
    script = f"""
        mount -t tmpfs -o size={room}k tmpfs "$OUT"
        cp "$CLEAN/gradebook.sqlite" "$OUT/"
        free=$(df -k --output=avail "$OUT" | tail -n 1)
        dd if=/dev/zero of="$OUT/filler" bs=1k count=$((free - 128)) 2>/dev/null
        set +e
        {AUTOGRADE} --out "$OUT" > "$LOGS/1.out" 2> "$LOGS/1.err"; echo $? > "$LOGS/1.rc"
        find "$OUT" -name ".*" > "$LOGS/dotfiles"
        rm "$OUT/filler"
        {AUTOGRADE} --out "$OUT" > "$LOGS/2.out" 2> "$LOGS/2.err"; echo $? > "$LOGS/2.rc"
        cp "$OUT/grades.json" "$LOGS/grades.json"
        ls -A "$OUT/results" | wc -l > "$LOGS/results"
        ls -A "$OUT/feedback" | grep -c '[.]md$' > "$LOGS/feedback"
    """
    env = {"OUT": str(out), "SUBS": str(class_batch), "LOGS": str(logs), "CLEAN": str(clean)}
    proc = private_mounts(script, env)
    assert proc.returncode == 0, proc.stderr
    assert (logs / "1.rc").read_text().strip() == "2"
    assert (logs / "1.err").read_text() == (
        f"error: cannot write reports to {out}: No space left on device; every graded student "
        "is in the gradebook: free some space and run again to write them\n"
    )
    assert (logs / "dotfiles").read_text() == "", "temp files left in OUT"

    assert (logs / "2.rc").read_text().strip() == "0", (logs / "2.err").read_text()[-3000:]
    assert summary_counts((logs / "2.out").read_text()) == (0, N)
    assert json.loads((logs / "grades.json").read_text()) == grades(clean)
    assert (
        (logs / "results").read_text().strip() == (logs / "feedback").read_text().strip() == str(N)
    )


def lane_of(pid: int) -> Proc | None:
    """The grading lane (a spawned process of ours) that worker `pid` runs under."""
    procs = processes()
    while pid in procs:
        ppid, p = procs[pid]
        if "spawn_main" in p.cmd and p.uid == os.getuid():
            return p
        pid = ppid
    return None


def test_lanes_killed_from_outside_are_restarted_and_the_batch_completes(tmp_path: Path) -> None:
    """When grading lanes are killed mid-submission (the OOM killer, an operator), is each
    replaced and its submission graded again, the batch exiting 0 with everyone graded; and is a
    submission whose lane is killed every time graded twice, then saved with one error line and
    graded again by the next run?"""
    subs = tmp_path / "subs"
    slow = "import time; time.sleep(0.3)  # keeps the lane busy with this submission"
    for i in range(4):
        special(subs, f"slow{i}", *SLEEPERS["b_sleeps_first"], slow)
    special(subs, "victim", *SLEEPERS["b_sleeps_first"], slow)
    out = tmp_path / "out"
    run = Run(subs, out, tmp_path / "logs", "--lanes", "2")
    killed: dict[str, set[Proc]] = {"victim": set(), "other": set()}
    while run.running():
        for worker in sandboxed(run):
            who = identify(worker)
            lane = lane_of(worker.pid) if who is not None else None
            if lane is None or lane in killed["victim"] | killed["other"]:
                continue
            if who == "victim" or (who.startswith("slow") and not killed["other"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(lane.pid, signal.SIGKILL)
                killed["victim" if who == "victim" else "other"].add(lane)
        time.sleep(POLL)
    assert run.wait() == 0, run.stderr()[-3000:]
    assert len(killed["other"]) == 1 and len(killed["victim"]) == 2  # graded twice, no more
    assert not run.leftovers()
    students = grades(out)["students"]
    assert sorted(students) == [*(f"slow{i}" for i in range(4)), "victim"]
    assert all(students[f"slow{i}"]["total"] == sum(MAX.values()) for i in range(4))
    assert students["victim"]["total"] == 0
    assert students["victim"]["errors"] == [
        "grading stopped twice on this submission (the grader's process ended with exit code "
        "-9): it scores 0 for now and is graded again on the next run"
    ]
    feedback = (out / "feedback" / "victim.md").read_text()
    assert "grading stopped twice on this submission" in feedback
    again = autograde(subs, out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert summary_counts(again.stdout) == (1, 4)  # only the victim is graded again
    assert all(v["total"] == sum(MAX.values()) for v in grades(out)["students"].values())
