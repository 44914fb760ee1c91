"""The attack corpus end to end: every tests/corpus/attack_* entry and three bystanders graded in
one real `attention-kit autograde` batch, with what the attacks aimed at watched from outside.

Each attack must cost exactly the points in its expected.toml, and the batch must leave no trace
beyond OUT: no file changed in the kit's folder, the submissions, site-packages or the user site
folder; nothing in /tmp; no connection to the loopback port and abstract socket the network attack
aims at; no process left over; nothing a student sees holding a solution line, a hidden check's
source or the run's seed; and the bystanders graded exactly as when graded alone. The batch runs
under a child subreaper, so that a process escaping the sandbox would be caught as an orphan.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT, redteam
from autograder.grading import evidence
from autograder.grading.isolate import FORGED
from learner import manifest
from tests import corpus_entries

# it watches the whole machine around its batch (processes of the sandbox uids, /tmp, the kernel's
# tables, the kit's tree): make test runs it after the others, with nothing beside it
pytestmark = pytest.mark.alone

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CORPUS = ROOT / "tests" / "corpus"
ATTACKS = sorted(p.parent.name for p in CORPUS.glob("attack_*/expected.toml"))
BYSTANDERS = {  # student id -> corpus entry graded beside the attacks
    "bystander_reference": "reference",
    "bystander_mistake": "mistake_scale_by_dk",
    "bystander_partial": "partial_simple_only",
}
BASES = {"solutions": ROOT / "solutions", "exercises": ROOT / "exercises", "none": None}
EXERCISES = manifest.load()
IDS = [e.id for e in EXERCISES]
FULL = {e.id: e.points for e in EXERCISES}
SEED = 730514289  # nine digits: found in a student's output only if it leaked
# seconds for a whole submission: above what the slow entries that keep points need (the two
# timeouts of sleep_at_import, slow_but_correct's 2 s sleeps), and between the ends of the fifth
# and sixth 4 s calls of sleep_every_call (20 s, 24 s), so that its expected points are certain
BUDGET = "22"
CALL_TIMEOUT = "6"  # seconds per call: the hanging attacks cost this, once per exercise; an
# ordinary call on a loaded CI machine once took over 3 s
RUN_TIMEOUT = 300  # seconds for the whole batch (it takes about 25)
SANDBOX_UID = 61000  # sandbox.SANDBOX_UID_BASE: every lane's uid is this or above
TOKEN = "ci-token-5f0e8a2d9b"  # in the grader's environment: found by a student only if it leaked
LATER = ("attack_escape_keyring_reader", "attack_escape_shm_reader")  # graded again afterwards
FEEDBACK_CAP = 32 * 1024  # bytes: a flood of output must not reach the feedback
DISTINCTIVE = 25  # characters: shorter source lines are too common to mean a leak

# Runs `argv[3:]` as a child subreaper: orphans of the batch become its children. Those that end
# within argv[2] seconds (Python's own helpers, such as multiprocessing's resource tracker) are
# reaped; those still running are listed (pid, state, command) in the JSON report argv[1], then
# killed. An attack's daemon sleeps far longer than that.
GRACE = 10.0
REAPER = """
import ctypes, json, os, signal, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
with open(sys.argv[1] + ".out", "w+") as out, open(sys.argv[1] + ".err", "w+") as err:
    rc = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode  # no pipe to wait on
    out.seek(0), err.seek(0)
    stdout, stderr = out.read(), err.read()


def running_children():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\\0", b" ").decode(errors="replace")[:200]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append([int(pid), fields[0], command])
    return found


deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    left = running_children()
    if not left or time.monotonic() > deadline:
        break
    time.sleep(0.1)
for pid, *_ in left:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "stdout": stdout, "stderr": stderr, "left": left}, f)
"""


# ---- building the class ------------------------------------------------------------------------


def spec(entry: str) -> dict[str, Any]:
    with open(CORPUS / entry / "expected.toml", "rb") as f:
        return tomllib.load(f)


def expected_points(entry: str) -> dict[str, float]:
    return corpus_entries.expected_points(CORPUS / entry)


def materialise(entry: str, folder: Path) -> None:
    """The entry as a student hands it in: its own files (conftest.py and all) plus the modules
    of its base that it does not replace (as a .py file or a notebook), and the files named in
    its `raw_names`, whose names are bytes no repository can hold everywhere (each code point
    below 256 is one byte)."""
    shutil.copytree(
        CORPUS / entry, folder, ignore=shutil.ignore_patterns("expected.toml", "*.defs.py")
    )
    corpus_entries.materialise(CORPUS / entry, folder / "exercises")  # modules stored as edits
    base = BASES[spec(entry).get("base", "solutions")]
    for module in manifest.modules():
        target = folder / "exercises" / f"{module}.py"
        if base is not None and not target.exists() and not target.with_suffix(".ipynb").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(base / f"{module}.py", target)
    for name in spec(entry).get("raw_names", []):
        path = os.path.join(os.fsencode(folder), name.encode("latin-1"))
        with open(path, "w") as f:
            f.write("# not a module\n")


# ---- what must not change ----------------------------------------------------------------------


def tree_hashes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under `root` (and each symlink's target), by relative path."""
    hashes = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip and d != "__pycache__")
        for name in files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                hashes[rel] = "-> " + os.readlink(path)
            else:
                hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def listing(folder: Path) -> dict[str, str]:
    """Top-level names of `folder` with each file's hash (folders as "dir"); {} if absent."""
    if not folder.is_dir():
        return {}
    return {
        p.name: "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
    }


def attack_sources() -> str:
    """Every attack's Python text: its whole files and its modules stored as edits."""
    whole = [p.read_text() for p in CORPUS.glob("attack_*/**/*.py")]
    built = [t for e in CORPUS.glob("attack_*") for t in corpus_entries.sources(e).values()]
    return "\n".join(whole + built)


def tmp_targets() -> list[Path]:
    """Every top-level /tmp entry an attack names in its source."""
    names = set(re.findall(r"/tmp/([\w.@-]+)", attack_sources()))
    return [Path("/tmp", n) for n in sorted(names)]


def tmp_state() -> dict[str, Any]:
    """What the attacks could leave in /tmp: the entries they name, and anything a sandbox uid
    owns (the batch's own temp files go to a folder of its own, see `autograde`)."""
    state: dict[str, Any] = {}
    for path in tmp_targets():
        if path.is_dir():
            state[str(path)] = tree_hashes(path)
        elif path.exists():
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in Path("/tmp").iterdir():
        try:
            owner = path.lstat().st_uid
        except FileNotFoundError:
            continue
        if owner >= SANDBOX_UID:
            state[str(path)] = owner
    return state


def user_site() -> Path:
    return Path(site.getusersitepackages())


def python_state() -> dict[str, Any]:
    """site-packages, the standard library and the user site folder, where startup files go."""
    return {
        "site-packages": listing(Path(sysconfig.get_path("purelib"))),
        "stdlib": sorted(p.name for p in Path(sysconfig.get_path("stdlib")).iterdir()),
        "user site": tree_hashes(user_site()) if user_site().is_dir() else None,
    }


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (real uid, parent pid, command) for every process."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            found[int(pid)] = (
                int(status["Uid"].split()[0]),
                int(status["PPid"]),
                status["Name"].strip(),
            )
        except (OSError, KeyError, ValueError):
            continue
    return found


def sandboxed(table: dict[int, tuple[int, int, str]]) -> dict[int, tuple[int, int, str]]:
    return {pid: p for pid, p in table.items() if p[0] >= SANDBOX_UID}


def children(table: dict[int, tuple[int, int, str]]) -> set[int]:
    return {pid for pid, p in table.items() if p[1] == os.getpid()}


def lingering(before: dict[int, tuple[int, int, str]]) -> dict[int, tuple[int, int, str]]:
    """Sandbox-uid processes not running before that are still running GRACE seconds on.

    Another batch on the machine starts workers under the same uids, each for a moment; a
    process that escaped this one stays (the daemon attack sleeps a minute)."""
    deadline = time.monotonic() + GRACE
    while True:
        now = sandboxed(processes())
        new = {pid: p for pid, p in now.items() if before.get(pid) != p}
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.2)


# ---- the network attack's targets --------------------------------------------------------------


@dataclass
class Listeners:
    tcp: socket.socket
    udp: socket.socket
    unix: socket.socket

    def close(self) -> None:
        for s in (self.tcp, self.udp, self.unix):
            s.close()

    def heard(self) -> list[str]:
        """What reached any listener (nothing, if the sandbox held)."""
        heard = []
        for name, s in (("tcp", self.tcp), ("unix", self.unix)):
            s.setblocking(False)
            try:
                conn, peer = s.accept()
                conn.close()
                heard.append(f"{name} connection from {peer!r}")
            except BlockingIOError:
                pass
        self.udp.setblocking(False)
        try:
            data, peer = self.udp.recvfrom(4096)
            heard.append(f"udp datagram {data[:60]!r} from {peer!r}")
        except BlockingIOError:
            pass
        return heard


def listen(subs: Path) -> Listeners:
    """Listen where the corpus's network attack aims, on a port and an abstract name free on this
    machine (another test run may be listening on the last ones), and aim the attack's copy in
    `subs` there: its PORT on 127.0.0.1, its ABSTRACT name."""
    sources = attack_sources()
    ports = set(re.findall(r"^PORT = (\d+)", sources, re.M))
    names = set(re.findall(r'^ABSTRACT = "\\0([^"]+)"', sources, re.M))
    assert len(ports) == 1 and len(names) == 1, (ports, names)
    name = f"{names.pop()}-{os.getpid()}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + name)
    for _ in range(50):  # a TCP port whose UDP twin is free too
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        try:
            udp.bind(("127.0.0.1", port))
            break
        except OSError:
            tcp.close()
            udp.close()
    else:
        unix.close()
        pytest.fail("no free port on 127.0.0.1 for both TCP and UDP")
    tcp.listen(8)
    unix.listen(8)
    for path in subs.rglob("*.py"):
        text = path.read_text()
        aimed = re.sub(r"^PORT = \d+", f"PORT = {port}", text, flags=re.M)
        aimed = re.sub(r'^ABSTRACT = "\\0[^"]+"', f'ABSTRACT = "\\\\0{name}"', aimed, flags=re.M)
        if aimed != text:
            path.write_text(aimed)
    return Listeners(tcp, udp, unix)


# ---- the batches -------------------------------------------------------------------------------


@dataclass
class Batch:
    out: Path
    report: dict[str, Any]  # the reaper's: rc, stdout, stderr, left (orphans)

    def grades(self) -> dict[str, Any]:
        return json.loads((self.out / "grades.json").read_text())["students"]

    def results(self, student: str) -> dict[str, Any]:
        return json.loads((self.out / "results" / f"{student}.json").read_text())

    def feedback(self, student: str) -> str:
        return (self.out / "feedback" / f"{student}.md").read_text()


def autograde(subs: Path, out: Path, work: Path) -> Batch:
    """One `attention-kit autograde` run under the reaper, from an empty folder, with a temp
    folder of its own (where the zygotes make their sandbox folders)."""
    (work / "cwd").mkdir(parents=True)
    (work / "tmp").mkdir()
    command = [sys.executable, "-m", "autograder.cli", "autograde", "--quiet"]
    command += ["--submissions", str(subs), "--out", str(out), "--seed", str(SEED)]
    command += ["--timeout", CALL_TIMEOUT, "--budget", BUDGET]
    report = work / "reaper.json"
    subprocess.run(
        [sys.executable, "-c", REAPER, str(report), str(GRACE), *command],
        cwd=work / "cwd",
        env={
            **os.environ,
            "TMPDIR": str(work / "tmp"),
            "ATTENTION_KIT_SEED": str(SEED),  # what an instructor's shell may hold
            "CI_JOB_TOKEN": TOKEN,
        },
        timeout=RUN_TIMEOUT,
        check=True,
    )
    batch = Batch(out, json.loads(report.read_text()))
    assert batch.report["rc"] == 0, batch.report["stderr"][-3000:]
    return batch


@dataclass
class Watched:
    """The attack batch and what was seen around it."""

    batch: Batch
    subs: Path
    work: Path
    before: dict[str, Any]
    after: dict[str, Any]
    heard: list[str]
    lingering: dict[int, tuple[int, int, str]]  # sandbox-uid processes left running


def snapshot(subs: Path) -> dict[str, Any]:
    table = processes()
    return {
        "kit": tree_hashes(ROOT, skip=(".venv", ".git")),
        "submissions": tree_hashes(subs),
        "python": python_state(),
        "tmp": tmp_state(),
        "children": children(table),
        "kernel": kernel_state(),
    }


def kernel_state() -> dict[str, Any]:
    """What outlives a process in the kernel: every SysV segment, semaphore set and queue (key,
    owner, size), and the keys each sandbox uid holds (/proc/key-users)."""
    state: dict[str, Any] = {}
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as f:
            state[kind] = sorted(" ".join(line.split()[:6]) for line in f.readlines()[1:])
    with open("/proc/key-users") as f:
        users = [line.split() for line in f if line.strip()]
    state["keys"] = {u[0]: u[2] for u in users if int(u[0].rstrip(":")) >= SANDBOX_UID}
    return state


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    tmp = tmp_path_factory.mktemp("attacks")
    subs = tmp / "submissions"
    for entry in ATTACKS:
        materialise(entry, subs / entry)
    for student, entry in BYSTANDERS.items():
        materialise(entry, subs / student)
    listeners = listen(subs)
    try:
        before, running = snapshot(subs), sandboxed(processes())
        batch = autograde(subs, tmp / "out", tmp / "work")
        after = snapshot(subs)
        heard = listeners.heard()
    finally:
        listeners.close()
    yield Watched(batch, subs, tmp / "work", before, after, heard, lingering(running))


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """The bystanders on their own, in a batch after the attacks', with the attacks that look for
    what an earlier batch left (LATER)."""
    tmp = tmp_path_factory.mktemp("bystanders")
    for student, entry in BYSTANDERS.items():
        materialise(entry, tmp / "submissions" / student)
    for entry in LATER:
        materialise(entry, tmp / "submissions" / entry)
    return autograde(tmp / "submissions", tmp / "out", tmp / "work")


# ---- points ------------------------------------------------------------------------------------


def diff(expected: dict[str, float], got: dict[str, float], results: dict[str, Any]) -> str:
    """`exercise: expected 3, got 1.5` and what the grader said, for each exercise that differs."""
    said = {t["name"].split(":")[0]: t["output"] for t in results["tests"]}
    return "\n".join(
        f"  {ex}: expected {expected[ex]:g}, got {got[ex]:g}\n    {said[ex][:400]!r}"
        for ex in IDS
        if expected[ex] != got[ex]
    )


@pytest.mark.slow
def test_every_submission_is_graded(attacked: Watched) -> None:
    """Does the batch grade every attack and bystander, with nothing left behind by the reaper?"""
    students = {*ATTACKS, *BYSTANDERS}
    assert set(attacked.batch.grades()) == students
    assert f"{len(students)} graded" in attacked.batch.report["stdout"]


@pytest.mark.slow
@pytest.mark.parametrize("entry", ATTACKS)
def test_attack_costs_exactly_its_points(attacked: Watched, entry: str) -> None:
    """Does the attack get exactly its expected points, with the real total reported first?"""
    batch = attacked.batch
    got = {k: float(v) for k, v in batch.grades()[entry]["points"].items()}
    expected = expected_points(entry)
    assert got == expected, f"{entry}:\n{diff(expected, got, batch.results(entry))}"
    total = batch.grades()[entry]["total"]
    assert batch.results(entry)["score"] == total
    shown = re.search(r"^\*\*Total: (\S+) / ", batch.feedback(entry), re.M)
    assert shown is not None and float(shown.group(1)) == total


@pytest.mark.slow
@pytest.mark.parametrize("student", list(BYSTANDERS))
def test_bystanders_are_graded_as_when_alone(attacked: Watched, alone: Batch, student: str) -> None:
    """Is a bystander's grades.json row the same beside the attacks as in a batch of its own?"""
    assert attacked.batch.grades()[student] == alone.grades()[student]
    got = {k: float(v) for k, v in attacked.batch.grades()[student]["points"].items()}
    assert got == expected_points(BYSTANDERS[student])


@pytest.mark.slow
@pytest.mark.parametrize("entry", [a for a in ATTACKS if "error" in spec(a)])
def test_attack_is_one_line_in_its_errors(attacked: Watched, entry: str) -> None:
    """Does an attack on the grader's own reading (expected.toml `error`) give its student one
    line saying what is wrong, in grades.json and in the feedback, and nothing else?"""
    wanted = spec(entry)["error"]
    errors = attacked.batch.grades()[entry]["errors"]
    assert [line for line in errors if wanted in line], errors
    assert all("\n" not in line for line in errors)
    assert wanted in attacked.batch.feedback(entry)


# ---- side effects ------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_file_outside_out_changed(attacked: Watched) -> None:
    """Are the kit's folder, the submissions, Python's folders and /tmp as they were, the run's
    own temp folder holding nothing but the kit's one empty mount point, and its working folder
    untouched?"""
    for what in ("kit", "submissions", "python", "tmp"):
        assert attacked.after[what] == attacked.before[what], what
    left = list((attacked.work / "tmp").iterdir())
    mount_point = attacked.work / "tmp" / f"attention-kit-sandbox-{os.getuid()}"
    assert left in ([], [mount_point])  # reused by every run of this user, never written to
    assert not mount_point.exists() or list(mount_point.iterdir()) == []
    assert list((attacked.work / "cwd").iterdir()) == []


@pytest.mark.slow
def test_nothing_connected_out(attacked: Watched) -> None:
    """Did no connection or datagram reach the listeners the network attack aims at?"""
    assert attacked.heard == []


def test_the_listeners_hear_the_network_attack_run_outside_a_sandbox(tmp_path: Path) -> None:
    """Aimed at a free port and name, do the listeners hear each of the attack's three tries
    when it runs unconfined (so that hearing nothing from the batch means the sandbox held)?"""
    materialise("attack_escape_network", tmp_path / "sub")
    listeners = listen(tmp_path / "sub")
    try:
        module = runpy.run_path(str(tmp_path / "sub" / "exercises" / "simple_attention.py"))
        tried = module["_phone_home"]()
        assert all(t.endswith(": sent") for t in tried), tried
        heard = listeners.heard()
    finally:
        listeners.close()
    assert sorted(h.split()[0] for h in heard) == ["tcp", "udp", "unix"], heard


@pytest.mark.slow
def test_no_process_outlives_grading(attacked: Watched) -> None:
    """Is no process left running as a sandbox uid, no orphan of the batch, no child of ours?"""
    assert attacked.batch.report["left"] == []
    assert attacked.lingering == {}
    assert attacked.after["children"] == attacked.before["children"]


@pytest.mark.slow
def test_nothing_left_in_the_kernel(attacked: Watched) -> None:
    """Is no SysV segment, semaphore set or queue left (nor any pinned memory), and no key held
    by a sandbox uid, after the batch with the shared-memory and keyring writers?"""
    assert attacked.after["kernel"] == attacked.before["kernel"]


@pytest.mark.slow
@pytest.mark.parametrize("entry", LATER)
def test_a_later_batch_finds_nothing(attacked: Watched, alone: Batch, entry: str) -> None:
    """Graded in a later batch, after the writers', does a reader find nothing and score only
    what it earns on its own (its expected points)?"""
    got = {k: float(v) for k, v in alone.grades()[entry]["points"].items()}
    assert got == expected_points(entry), diff(expected_points(entry), got, alone.results(entry))


def solution_lines() -> set[str]:
    """Distinctive lines of the solution regions of solutions/*.py."""
    lines = set()
    for path in (ROOT / "solutions").glob("*.py"):
        regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", path.read_text(), re.S)
        lines.update(line.strip() for region in regions for line in region.splitlines())
    return {line for line in lines if len(line) >= DISTINCTIVE}


def hidden_lines() -> set[str]:
    """Distinctive source lines of the hidden suites (their check names may be shown)."""
    lines = set()
    for path in (ROOT / "autograder" / "hidden").glob("*.py"):
        lines.update(line.strip() for line in path.read_text().splitlines())
    return {line for line in lines if len(line) >= DISTINCTIVE}


def own_lines(folder: Path) -> set[str]:
    """Every line of a student's own files and notebooks: their code may be quoted back to them."""
    texts = [path.read_text() for path in folder.rglob("*.py")]
    for path in folder.rglob("*.ipynb"):
        try:
            cells = json.loads(path.read_text()).get("cells", [])
        except (ValueError, RecursionError):
            continue
        for cell in cells:  # an attack's cells may hold anything: only text lines count
            source = cell.get("source") if isinstance(cell, dict) else None
            texts += [line for line in source if isinstance(line, str)] if source else []
    return {line.strip() for text in texts if isinstance(text, str) for line in text.splitlines()}


@pytest.mark.slow
def test_nothing_hidden_reaches_a_student(attacked: Watched) -> None:
    """Does no feedback, results file or grades.json row hold a solution line the student did
    not write, a hidden suite's source line, the run's seed or anything of the grader's
    environment (the seed and a CI token are in it, and an attack prints its environment)?"""
    batch, grades = attacked.batch, attacked.batch.grades()
    solutions, hidden = solution_lines(), hidden_lines()
    leaks, watched = [], 0
    for student in grades:
        secret = (solutions | hidden) - own_lines(attacked.subs / student)
        watched += len(secret)
        texts = {
            "feedback": batch.feedback(student),
            "results": json.dumps(batch.results(student), ensure_ascii=False),
            "grades.json": json.dumps(grades[student], ensure_ascii=False),
        }
        for where, text in texts.items():
            found = [line for line in secret if line in text]
            if str(SEED) in text:
                found.append(f"the seed {SEED}")
            if TOKEN in text or "CI_JOB_TOKEN" in text or "ATTENTION_KIT_SEED" in text:
                found.append("the grader's environment")
            leaks += [f"{student} {where}: {line!r}" for line in found[:3]]
    assert watched > 1000, "too few secret lines to look for: the test would prove nothing"
    assert not leaks, "\n".join(leaks)


@pytest.mark.slow
def test_feedback_stays_small(attacked: Watched) -> None:
    """Does no flood of printed output make any feedback file larger than a few pages?"""
    sizes = {p.name: p.stat().st_size for p in (attacked.batch.out / "feedback").iterdir()}
    assert {k: v for k, v in sizes.items() if v > FEEDBACK_CAP} == {}
    flood = attacked.batch.feedback("attack_exhaustion_output_flood")
    assert "21 passed" in flood and "characters cut" in flood


# ---- deadlines ---------------------------------------------------------------------------------


def said(batch: Batch, student: str, exercise: str) -> str:
    """What the grader told `student` about `exercise`."""
    return next(
        t["output"] for t in batch.results(student)["tests"] if t["name"].split(":")[0] == exercise
    )


@pytest.mark.slow
def test_a_dribbled_reply_is_cut_off_at_the_call_deadline(attacked: Watched) -> None:
    """Is a reply whose bytes come one a second stopped at the call's timeout, charged to the call
    that was running (not reported as garbage once the dribble ends, nor to a later exercise)?"""
    text = said(attacked.batch, "attack_exhaustion_dribble_reply", "context_vector")
    assert f"test_context_vector_document:\ndid not return within {CALL_TIMEOUT} s" in text, text


@pytest.mark.slow
def test_a_forged_frame_is_refused_before_its_body_is_read(attacked: Watched) -> None:
    """Is a frame whose array headers all point at one body refused as such?"""
    text = said(attacked.batch, "attack_forging_forged_frame", "normalize_by_sum")
    assert "the arrays do not add up to the body" in text, text


@pytest.mark.slow
def test_a_well_formed_reply_written_by_student_code_is_refused(attacked: Watched) -> None:
    """Is a reply frame in the worker's own layout, written by the code being graded, refused
    because it lacks the seal the grader gave its worker?"""
    text = said(attacked.batch, "attack_offlimits_forged_reply", "softmax_stable")
    assert FORGED in text, text


@pytest.mark.slow
def test_a_redirected_record_forfeits_every_offlimits_exercise(attacked: Watched) -> None:
    """Is a record of kernel calls cut off by the code being graded named as such on every
    exercise with off-limits calls, while the others keep their points?"""
    batch, student = attacked.batch, "attack_offlimits_record_redirect"
    for ex in manifest.load():
        if ex.offlimits:
            assert evidence.BROKEN in said(batch, student, ex.id), ex.id
        else:
            assert evidence.BROKEN not in said(batch, student, ex.id), ex.id


@pytest.mark.slow
def test_the_budget_stops_a_sleeper_and_says_why(attacked: Watched) -> None:
    """When a submission's time runs out, is the call running then told it was stopped, is every
    later check told it was not graded (naming the budget), and is it one of its problems?"""
    batch, student = attacked.batch, "attack_exhaustion_sleep_every_call"
    stopped = said(batch, student, "attention_scores")
    assert stopped.startswith("test_attention_scores_gradients:\nstopped: your code was still ")
    assert f"the {BUDGET} s allowed for grading your whole submission ran out" in stopped
    for exercise in IDS[IDS.index("attention_scores") + 1 :]:
        assert f"not graded: the {BUDGET} s allowed for grading" in said(batch, student, exercise)
    assert batch.grades()[student]["errors"] == [
        "grading stopped when the time allowed for the whole submission ran out: the checks not "
        "run in time score 0"
    ]


# ---- the red-team table ------------------------------------------------------------------------


def test_redteam_table_is_current() -> None:
    """Is docs/redteam.md what `make redteam-table` writes from the corpus now?"""
    assert redteam.main(["--check"]) == 0, "run `make redteam-table` and commit docs/redteam.md"


def test_redteam_check_catches_a_stale_table(tmp_path: Path) -> None:
    """Does --check fail for a page edited by hand, and for one whose corpus changed under it?"""
    page, corpus = tmp_path / "redteam.md", tmp_path / "corpus"
    entry = corpus / ATTACKS[0]
    shutil.copytree(CORPUS / ATTACKS[0], entry)
    args = ["--out", str(page), "--corpus", str(corpus)]
    assert redteam.main(args) == 0
    assert redteam.main(["--check", *args]) == 0
    page.write_text(page.read_text().replace("none (checked)", "none", 1))
    assert redteam.main(["--check", *args]) == 1
    assert redteam.main(args) == 0
    toml = entry / "expected.toml"
    toml.write_text(re.sub(r"(?m)^attack = .*$", 'attack = "something else"', toml.read_text()))
    assert redteam.main(["--check", *args]) == 1
    toml.write_text(toml.read_text().replace("[points]", "[points]\nno_such_exercise = 0"))
    with pytest.raises(ValueError, match="unknown exercises"):
        redteam.load(corpus)


def test_every_attack_says_its_family_and_what_it_tries() -> None:
    """Does every attack entry name a known family, match its folder name, and say in words what
    it must lose, each family holding several variants?"""
    attacks = redteam.load()
    assert sorted(a.name for a in attacks) == ATTACKS
    counts = {f: sum(a.family == f for a in attacks) for f in redteam.FAMILIES}
    assert min(counts.values()) >= 3, counts
    for a in attacks:
        words = redteam.outcome(a.points)
        named = set(re.findall(r"\w+", words))
        modules = {e.id: e.module for e in EXERCISES}
        for ex in a.points:
            assert ex in named or f"every exercise of {modules[ex]}.py" in words, (a.name, words)
