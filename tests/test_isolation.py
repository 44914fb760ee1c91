"""The sandbox around student code: what a worker can and cannot do (Linux namespaces mode).

Every hostile snippet here is bounded on its own (loop counts, sizes, sleeps), so that even a
broken sandbox could not harm the machine.
"""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder import ROOT
from autograder.grading.isolate import SandboxChannel, Zygote
from autograder.grading.sandbox import SANDBOX_UID_BASE, basic_uid, python_view
from autograder.grading.student import Student, StudentError
from learner import manifest

pytestmark = pytest.mark.slow  # real sandboxed workers


MARKER = "grader-secret-7c1f3e"  # a secret in the grader's environment, which no worker may see


def started_zygote(sandbox_mode: str | None = None) -> Zygote:
    """A zygote started (in `sandbox_mode`, or the machine's own) while the grader's environment
    holds MARKER as the seed and as a CI token; the environment is restored afterwards."""
    with pytest.MonkeyPatch.context() as env:
        if sandbox_mode:
            env.setenv("ATTENTION_KIT_SANDBOX", sandbox_mode)
        env.setenv("ATTENTION_KIT_SEED", MARKER)
        env.setenv("CI_JOB_TOKEN", MARKER)
        return Zygote()


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = started_zygote()
    yield z
    z.close()


@pytest.fixture(scope="module")
def basic_zygote() -> Iterator[Zygote]:
    """One zygote in basic mode for the tests that check every mode (one start, not one each)."""
    z = started_zygote("basic")
    yield z
    z.close()


def zygote_in(sandbox_mode: str, request: pytest.FixtureRequest) -> Zygote:
    """The module's zygote for "namespaces" (the machine's own mode), the basic one for "basic"."""
    return request.getfixturevalue("basic_zygote" if sandbox_mode == "basic" else "zygote")


def student_for(zygote: Zygote, body: str, timeout: float = 5.0) -> tuple[Student, SandboxChannel]:
    """A submission whose simple_attention module is `body`; every exercise name maps into it."""
    channel = SandboxChannel(zygote, lane=LANE, sources={"simple_attention": textwrap.dedent(body)})
    return Student(channel, lambda name: ("simple_attention", name), timeout=timeout), channel


needs_namespaces = pytest.mark.skipif(
    not (os.geteuid() == 0 and os.path.exists("/proc/self/ns/pid")),
    reason="namespace isolation is tested where the grader runs as root on Linux",
)


LANE = 7  # a lane no batch in the other tests uses: its uid is this file's alone


def sandbox_processes() -> list[int]:
    """Processes running as this file's sandbox uid."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}").st_uid == SANDBOX_UID_BASE + LANE:
                    pids.append(int(p))
            except FileNotFoundError:
                pass
    return pids


def test_values_come_back_as_plain_numbers(zygote: Zygote) -> None:
    """Does a tensor come back as a numpy array with its dtype, and a tuple as items?"""
    student, channel = student_for(
        zygote,
        """
        import torch
        def f(x):
            return x * 2, torch.ones(2, dtype=torch.float64)
    """,
    )
    try:
        value = student.call("f", torch.tensor([1.0, 2.0]))
    finally:
        channel.stop()
    assert value.kind == "tuple"
    first, second = value.items
    assert first.kind == "torch" and first.dtype == "float32"
    np.testing.assert_array_equal(first.array, [2.0, 4.0])
    assert second.dtype == "float64"


def test_objects_that_lie_about_equality_arrive_as_other(zygote: Zygote) -> None:
    """Does an object whose __eq__ is always True come back as nothing but its type name?"""
    student, channel = student_for(
        zygote,
        """
        class Liar:
            def __eq__(self, other):
                return True
        def f(x):
            return Liar()
    """,
    )
    try:
        value = student.call("f", torch.zeros(1))
    finally:
        channel.stop()
    assert value.kind == "other" and value.array is None
    assert "Liar" in value.type_name


@needs_namespaces
def test_worker_cannot_read_the_solutions_or_reach_the_network(zygote: Zygote) -> None:
    """Are the solutions, the hidden suites and a loopback port all out of the worker's reach?"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    secrets = [
        str(ROOT / "solutions" / "simple_attention.py"),
        str(ROOT / "autograder" / "hidden" / "__init__.py"),
        "/etc/passwd",
    ]
    student, channel = student_for(
        zygote,
        f"""
        import os, socket
        def read(x):
            found = 0.0
            for path in {secrets!r}:
                try:
                    open(path).read()
                    found += 1
                except OSError:
                    pass
            return found
        def connect(x):
            s = socket.socket()
            s.settimeout(1.0)
            try:
                s.connect(("127.0.0.1", {port}))
                return 1.0
            except OSError:
                return 0.0
        def import_solutions(x):
            import solutions.simple_attention
            return 1.0
    """,
    )
    try:
        assert student.call("read", 0.0).scalar == 0.0
        assert student.call("connect", 0.0).scalar == 0.0
        with pytest.raises(StudentError) as err:
            student.call("import_solutions", 0.0)
        assert "ModuleNotFoundError" in err.value.message
    finally:
        channel.stop()
        server.close()


def test_exit_and_crash_cost_one_call_only(zygote: Zygote) -> None:
    """Do sys.exit and os._exit fail only their own call, with the next call served fresh?"""
    student, channel = student_for(
        zygote,
        """
        import os, sys
        def leave(x):
            sys.exit(0)
        def die(x):
            os._exit(3)
        def ok(x):
            return x + 1
    """,
    )
    try:
        with pytest.raises(StudentError) as left:
            student.call("leave", 1.0)
        assert "sys.exit" in left.value.message
        with pytest.raises(StudentError) as died:
            student.call("die", 1.0)
        assert died.value.kind == "crash"
        assert student.call("ok", 1.0).scalar == 2.0
    finally:
        channel.stop()


def test_a_hang_times_out_and_the_worker_is_replaced(zygote: Zygote) -> None:
    """Does an endless loop cost a timeout, after which a new worker answers?"""
    student, channel = student_for(
        zygote,
        """
        import time
        def hang(x):
            end = time.time() + 30  # bounded even if nothing stops it
            while time.time() < end:
                pass
        def ok(x):
            return x
    """,
        timeout=1.0,
    )
    try:
        with pytest.raises(StudentError) as err:
            student.call("hang", 1.0)
        assert err.value.kind == "timeout"
        assert student.call("ok", 5.0).scalar == 5.0
    finally:
        channel.stop()


def test_memory_bomb_hits_the_limit(zygote: Zygote) -> None:
    """Is a 16 GB allocation refused inside the worker rather than granted?"""
    student, channel = student_for(
        zygote,
        """
        def bomb(x):
            blob = bytearray(16 * 1024**3)
            return float(len(blob))
    """,
    )
    try:
        with pytest.raises(StudentError) as err:
            student.call("bomb", 1.0)
        assert err.value.kind in ("exception", "crash")
        assert err.value.kind == "crash" or "MemoryError" in err.value.message
    finally:
        channel.stop()


@needs_namespaces
def test_no_process_outlives_the_worker(zygote: Zygote) -> None:
    """Does a double-forked, detached child die with the worker that started it?"""
    student, channel = student_for(
        zygote,
        """
        import os, time
        def spawn(x):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(60)  # bounded: it would end by itself
                os._exit(0)
            time.sleep(0.2)
            return 1.0
    """,
    )
    try:
        assert student.call("spawn", 1.0).scalar == 1.0
        assert sandbox_processes(), "the worker and its daemon run as a sandbox uid"
    finally:
        channel.stop()
    assert sandbox_processes() == []


@needs_namespaces
def test_process_and_disk_limits_hold(zygote: Zygote) -> None:
    """Are forks capped, and is writing past the file size cap refused?"""
    student, channel = student_for(
        zygote,
        """
        import os
        def forks(x):
            made = 0
            for _ in range(200):  # bounded attempt at a fork bomb
                try:
                    if os.fork() == 0:
                        import time
                        time.sleep(5)
                        os._exit(0)
                    made += 1
                except OSError:
                    break
            return float(made)
        def fill(x):
            written = 0
            try:
                with open("/big", "wb") as f:
                    for _ in range(64):  # 64 MiB at most
                        f.write(b"x" * 1024 * 1024)
                        written += 1
            except OSError:
                pass
            return float(written)
    """,
    )
    try:
        assert student.call("forks", 1.0).scalar < 32
        assert student.call("fill", 1.0).scalar <= 8
    finally:
        channel.stop()


def test_printing_is_captured_and_capped(zygote: Zygote) -> None:
    """Is a flood of printed output cut to a few KB instead of reaching the grader's terminal?"""
    student, channel = student_for(
        zygote,
        """
        def loud(x):
            for _ in range(10000):
                print("===== 21 passed =====")
            return x
    """,
    )
    try:
        student.call("loud", 1.0)
    finally:
        channel.stop()
    printed = "".join(student.output)
    assert "21 passed" in printed
    assert len(printed) < 5000 and "more characters cut" in printed


def test_installed_packages_import_in_the_worker(zygote: Zygote) -> None:
    """Can student code import what Python has installed (numpy.testing, fractions) even
    though nothing of the host but Python's own folders is visible?"""
    student, channel = student_for(
        zygote,
        """
        def f(x):
            import fractions
            import numpy.testing
            numpy.testing.assert_allclose([1.0], [1.0])
            return float(fractions.Fraction(1, 2))
        """,
    )
    try:
        assert student.call("f", 0.0).scalar == 0.5
    finally:
        channel.stop()


@needs_namespaces
def test_nothing_the_worker_writes_can_be_imported(zygote: Zygote) -> None:
    """Is every folder Python imports from read-only in the worker, and does a rewritten
    exercises/simple_attention.py change nothing, since the scanned source runs from memory?"""
    student, channel = student_for(
        zygote,
        """
        import os
        import sys

        MARK = 1

        def writable():
            return sum(os.access(p or ".", os.W_OK) for p in sys.path)

        def rewrite():
            with open(__file__, "w") as f:
                f.write("MARK = 2\\n")
            for name in [m for m in sys.modules if m.startswith("exercises")]:
                del sys.modules[name]
            import exercises.simple_attention as again
            return again.MARK
        """,
    )
    try:
        assert student.call("writable").scalar == 0
        assert student.call("rewrite").scalar == 1  # imported again, from the scanned source
    finally:
        channel.stop()


def test_basic_mode_as_root_still_drops_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without namespaces (ATTENTION_KIT_SANDBOX=basic, as in a container) but as root, does the
    worker run as an unprivileged uid of its own that can neither write the grader's files nor
    signal the grader, while grading still works?"""
    if os.geteuid() != 0:
        pytest.skip("the uid switch of basic mode is for a grader running as root")
    grader_file = tmp_path / "grades.json"
    grader_file.write_text("{}")
    monkeypatch.setenv("ATTENTION_KIT_SANDBOX", "basic")
    zygote = Zygote()
    student, channel = student_for(
        zygote,
        f"""
        import os

        def uid():
            return os.geteuid()

        def harm():
            done = 0
            try:
                with open({str(grader_file)!r}, "w") as f:
                    f.write("forged")
            except OSError:
                done += 1
            try:
                os.kill({os.getpid()}, 0)
            except OSError:
                done += 1
            return done
        """,
    )
    try:
        assert zygote.mode == "basic"
        assert student.call("uid").scalar == basic_uid(channel.pid or 0)
        assert student.call("harm").scalar == 2  # both refused
        assert grader_file.read_text() == "{}"
    finally:
        channel.stop()
        zygote.close()


def test_secrets_inside_python_folders_are_covered(tmp_path: Path) -> None:
    """Would a secret inside a visible Python folder (a non-editable install) be covered?"""
    import sysconfig

    site = os.path.realpath(sysconfig.get_path("purelib"))
    view = python_view([os.path.join(site, "pytest"), str(tmp_path / "elsewhere")])
    assert site in view.readable or any(site.startswith(r + os.sep) for r in view.readable)
    assert view.hidden == (os.path.join(site, "pytest"),)


USERNS_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from autograder.grading.isolate import SandboxChannel, Zygote
from autograder.grading.student import Student
z = Zygote()
src = {"simple_attention": '''
import os
def f(x):
    try:
        open(%r).read()
        return 1.0
    except OSError:
        pass
    try:
        os.mkdir("/x")
        os.chroot("/x")
        return 2.0
    except OSError:
        return 0.0
'''}
ch = SandboxChannel(z, 0, src)
print(z.mode, Student(ch, lambda n: ("simple_attention", n)).call("f", 1.0).scalar)
ch.stop()
z.close()
"""


# The grader as an ordinary user starts the zygote with sys.executable: the probe does the same.
SPAWN_PROBE = (
    "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import torch'], check=True)"
)


def ordinary_user_or_skip(tmp_path: Path) -> list[str]:
    """The command prefix that runs a program as nobody, once it is known that nobody can run
    this interpreter and have it start itself again with torch (else the test is skipped)."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become an ordinary user")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", SPAWN_PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"an ordinary user cannot start {sys.executable} with torch here: {last}")
    return as_nobody


def test_ordinary_user_gets_the_user_namespace_sandbox(tmp_path: Path) -> None:
    """Run as an unprivileged user: is the sandbox "userns", with the solutions out of reach and
    chroot (the way out of a chroot) refused because every capability is dropped?"""
    import subprocess
    import sys

    as_nobody = ordinary_user_or_skip(tmp_path)
    secret = str(ROOT / "solutions" / "simple_attention.py")
    proc = subprocess.run(
        [*as_nobody, sys.executable, "-c", USERNS_PROBE % secret, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["userns", "0.0"]


def test_a_worker_killed_from_outside_is_retried(zygote: Zygote) -> None:
    """Is a call whose worker is killed from outside run again on a fresh worker, so the
    student loses nothing, while code that crashes every time still fails?"""
    import signal
    import threading

    student, channel = student_for(
        zygote,
        """
        import os, time
        def slow(x):
            time.sleep(1.0)
            return x
        def die(x):
            os._exit(3)
        """,
    )
    try:
        student.call("slow", 0.0)  # a worker is up
        first = channel.pid
        assert first is not None
        threading.Timer(0.3, os.kill, (first, signal.SIGKILL)).start()
        assert student.call("slow", 7.0).scalar == 7.0
        assert channel.pid != first
        with pytest.raises(StudentError) as err:
            student.call("die", 0.0)
        assert err.value.kind == "crash"
    finally:
        channel.stop()


@needs_namespaces
def test_the_worker_leads_its_own_process_group(zygote: Zygote) -> None:
    """Is the worker the leader of its own session and process group, so that kill(0, ...)
    (what os.kill(os.getppid(), ...) becomes in its PID namespace) reaches nobody else?"""
    student, channel = student_for(
        zygote,
        """
        import os
        def ids(x):
            return float(os.getpid()), float(os.getpgrp()), float(os.getsid(0)), float(os.getppid())
        """,
    )
    try:
        value = student.call("ids", 0.0)
    finally:
        channel.stop()
    assert [v.scalar for v in value.items] == [1.0, 1.0, 1.0, 0.0]


@needs_namespaces
def test_as_root_the_zygote_forks_each_worker_straight_into_its_namespace(zygote: Zygote) -> None:
    """As root, is each worker the zygote's own child (no intermediate process), PID 1 of a
    namespace of its own, with the zygote's later children back in the zygote's namespace?"""
    student, channel = student_for(
        zygote, "import os\ndef pid(x):\n    return float(os.getpid())\n"
    )
    other, second = student_for(zygote, "import os\ndef pid(x):\n    return float(os.getpid())\n")
    try:
        assert student.call("pid", 0.0).scalar == other.call("pid", 0.0).scalar == 1.0
        for worker in (channel.pid, second.pid):
            status = Path(f"/proc/{worker}/status").read_text()
            assert f"PPid:\t{zygote.proc.pid}\n" in status
            assert len(status.split("NSpid:")[1].split("\n")[0].split()) == 2  # host's, then 1
        ns = Path(f"/proc/{zygote.proc.pid}/ns")
        assert os.readlink(ns / "pid_for_children") == os.readlink(ns / "pid")
    finally:
        channel.stop()
        second.stop()


FORK_ALONE_PROBE = """
import os, sys
sys.path.insert(0, sys.argv[1])
from autograder.grading import sandbox
ns = os.readlink("/proc/self/ns/pid")
own = sandbox.own_pid_namespace()
assert own is not None and os.readlink("/proc/self/ns/pid_for_children") == ns
for _ in range(3):  # each child PID 1 of a namespace of its own, the next fork possible again
    pid = sandbox.fork_alone(own)
    if pid == 0:
        os._exit(0 if os.getpid() == 1 and os.readlink("/proc/self/ns/pid") != ns else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.readlink("/proc/self/ns/pid_for_children") == ns
print("ok")
"""


@needs_namespaces
def test_fork_alone_leaves_the_parents_namespace_for_its_other_children() -> None:
    """As root, does own_pid_namespace leave the caller's namespaces as they were, and does
    fork_alone, called again and again, put each child alone in a new PID namespace?"""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", FORK_ALONE_PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


USERNS_KILL_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from autograder.grading.isolate import SandboxChannel, Zygote
from autograder.grading.student import Student, StudentError
z = Zygote()
src = {"simple_attention": '''
import os, signal
def f(x):
    if os.getpid() == 1:  # only inside a PID namespace: there getppid() is 0, kill(0) the group
        os.kill(os.getppid(), signal.SIGKILL)
    return 1.0
'''}
ch = SandboxChannel(z, 0, src)
try:
    Student(ch, lambda n: ("simple_attention", n)).call("f", 1.0)
    print(z.mode, "returned")
except StudentError as e:
    print(z.mode, e.kind)
ch.stop()
z.close()
"""


def test_a_worker_cannot_kill_the_grader_as_the_same_user(tmp_path: Path) -> None:
    """As an ordinary user the worker runs under the grader's own uid: does killing its parent
    (kill(0), the process group) reach no one but the worker, which as its PID namespace's init
    ignores it, so that the call returns and the grader goes on?"""
    import subprocess
    import sys

    as_nobody = ordinary_user_or_skip(tmp_path)
    proc = subprocess.run(
        [*as_nobody, sys.executable, "-c", USERNS_KILL_PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        start_new_session=True,  # should the kill get through, it ends the probe, not pytest
    )
    assert proc.returncode == 0, f"the grader died (exit {proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.split() == ["userns", "returned"]


# ---- nothing shared between workers, nothing of the grader's environment ------------------------

SHARED_STATE = """
import ctypes, ctypes.util, errno, os
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long

def refused(ret):
    return float(ret == -1 and ctypes.get_errno() in (errno.EPERM, errno.ENOSYS))

def shm():
    return refused(libc.shmget(0x5A17, 1 << 20, 0o1666))  # IPC_CREAT | 0666

def sem():
    return refused(libc.semget(0x5A18, 1, 0o1666))

def msg():
    return refused(libc.msgget(0x5A19, 0o1666))

def mqueue():
    return refused(libc.syscall(240, b"/attention-kit-test", 0o100 | 2, 0o666, None))

def key():
    # add_key("user", "attention-kit-test", "answers", 7, KEY_SPEC_USER_KEYRING)
    return refused(libc.syscall(248, b"user", b"attention-kit-test", b"answers", 7, -4))

def keyring():
    return refused(libc.syscall(250, 0, -4, 0))  # keyctl(KEYCTL_GET_KEYRING_ID, user keyring)

def trace():
    return refused(libc.syscall(101, 16, os.getppid() or 1, 0, 0))  # PTRACE_ATTACH

def userns():
    return refused(libc.unshare(0x10000000))

def fork_still_works():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return float(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""
DENIED = ["shm", "sem", "msg", "mqueue", "key", "keyring", "trace", "userns"]


def sysv_objects() -> list[str]:
    """The host's SysV segments, semaphores and queues (the kernel's own tables)."""
    rows = []
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as f:
            rows += [f"{kind} {line.split()[0]}" for line in f.readlines()[1:]]
    return rows


@pytest.mark.skipif(not os.path.exists("/proc/sysvipc"), reason="the seccomp filter is Linux's")
@pytest.mark.parametrize("sandbox_mode", ["namespaces", "basic"])
def test_shared_kernel_state_is_denied(sandbox_mode: str, request: pytest.FixtureRequest) -> None:
    """Are SysV IPC, POSIX queues, keyrings, ptrace and new user namespaces refused (EPERM) in
    every mode, with the host's SysV tables unchanged, while fork still works?"""
    z = zygote_in(sandbox_mode, request)
    if sandbox_mode == "basic":
        assert z.mode == "basic"
    before = sysv_objects()
    student, channel = student_for(z, SHARED_STATE)
    try:
        refused = {name: student.call(name).scalar for name in DENIED}
        assert student.call("fork_still_works").scalar == 7.0
    finally:
        channel.stop()
    assert refused == dict.fromkeys(DENIED, 1.0)
    assert sysv_objects() == before


@needs_namespaces
def test_each_worker_has_an_ipc_namespace_of_its_own(zygote: Zygote) -> None:
    """Do two workers, side by side, sit in different IPC namespaces, neither the zygote's?"""
    student, first = student_for(zygote, "def f(x):\n    return x\n")
    other, second = student_for(zygote, "def f(x):\n    return x\n")
    try:
        student.call("f", 1.0)
        other.call("f", 1.0)
        spaces = {os.readlink(f"/proc/{c.pid}/ns/ipc") for c in (first, second)}
        spaces.add(os.readlink(f"/proc/{zygote.proc.pid}/ns/ipc"))
    finally:
        first.stop()
        second.stop()
    assert len(spaces) == 3


DAEMON = """
import os, time
def spawn(x):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(os.path.join(os.environ["HOME"], "daemon.pid"), "w") as f:
                f.write(str(os.getpid()))
            time.sleep(60)  # bounded: it would end by itself
        os._exit(0)
    time.sleep(0.3)
    return float(open(os.path.join(os.environ["HOME"], "daemon.pid")).read())
def peek(x):
    try:
        return float(len(open(%r).read()))
    except OSError:
        return -1.0
"""


def test_basic_mode_daemon_dies_with_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """In basic mode as root, does a daemon (double fork after setsid) die with its worker, with
    nothing of the worker's uid left running, and can a worker running meanwhile not read the
    other's files?"""
    if os.geteuid() != 0 or not os.path.isdir("/proc"):
        pytest.skip("killing by uid is what basic mode does as root on Linux")
    import tempfile

    monkeypatch.setenv("ATTENTION_KIT_SANDBOX", "basic")
    z = Zygote()
    student, channel = student_for(z, DAEMON % "/nonexistent")
    try:
        daemon = int(student.call("spawn", 1.0).scalar)
        worker = channel.pid or 0
        uid = basic_uid(worker)
        assert os.stat(f"/proc/{daemon}").st_uid == uid  # running, detached, as the worker's uid
        home = Path(tempfile.gettempdir(), f"attention-kit-sandbox-{os.getuid()}", f"w{worker}")
        spy, spy_channel = student_for(z, DAEMON % str(home / "daemon.pid"))
        try:
            assert spy.call("peek", 1.0).scalar == -1.0  # another worker: refused
        finally:
            spy_channel.stop()
    finally:
        channel.stop()
        z.close()
    left = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{p}").st_uid == uid:
                left.append(p)
        except FileNotFoundError:
            pass
    assert left == []
    assert not os.path.exists(f"/proc/{daemon}") or _is_zombie(daemon)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# Reads the environment three ways: os.environ, /proc/self/environ, and the original block on
# the stack (the strings after argv[0], found through program_invocation_name, read page by page
# while msync says the page is mapped).
ENVIRON_READER = """
import ctypes, ctypes.util, os
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
def dump(x):
    seen = [repr(dict(os.environ))]
    try:
        seen.append(open("/proc/self/environ", "rb").read().decode("latin-1"))
    except OSError:
        pass
    start = ctypes.c_void_p.in_dll(libc, "program_invocation_name").value
    page = start & ~4095
    libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for i in range(64):
        if libc.msync(page + i * 4096, 4096, 1) != 0:  # MS_ASYNC: fails past the mapping
            break
        seen.append(ctypes.string_at(page + i * 4096, 4096).decode("latin-1"))
    text = "\\n".join(seen)
    print(text)
    return float(len(text))
"""


@pytest.mark.parametrize("sandbox_mode", ["namespaces", "basic"])
def test_no_grader_environment_reaches_a_worker(
    sandbox_mode: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a secret in the grader's environment (the seed, a CI token) when its zygote started
    and when the worker is made, does a worker that reads os.environ, /proc/self/environ and the
    environment block on its stack find none of it, while it does find the process's own argv
    (so the stack was really read)?"""
    z = zygote_in(sandbox_mode, request)  # started with MARKER in the environment
    if sandbox_mode == "basic":
        assert z.mode == "basic"
    monkeypatch.setenv("ATTENTION_KIT_SEED", MARKER)
    monkeypatch.setenv("CI_JOB_TOKEN", MARKER)
    student, channel = student_for(z, ENVIRON_READER)
    try:
        assert student.call("dump", 0.0).scalar > 0
    finally:
        channel.stop()
    printed = "".join(student.output)
    assert "autograder.grading.zygote" in printed  # the argv strings on the stack were read
    assert MARKER not in printed
    assert "ATTENTION_KIT_SEED" not in printed and "CI_JOB_TOKEN" not in printed


# ---- each submission's own hidden inputs ------------------------------------------------------


def printed_and_seed(out: Path, student: str) -> tuple[str, int, dict]:
    """What the student printed, the seed stored for them, and their grades.json row."""
    import json
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(out / "gradebook.sqlite")) as db:
        output, seed = db.execute(
            "SELECT output, seed FROM submissions WHERE student = ?", (student,)
        ).fetchone()
    row = json.loads((out / "grades.json").read_text())["students"][student]
    return output, seed, row


@pytest.mark.slow
def test_a_resubmission_sees_new_inputs_and_a_regrade_the_same(tmp_path: Path) -> None:
    """A submission that prints its hidden inputs: does a regrade of the same bytes print the
    same inputs and get the same result, while a resubmission (one comment added) is given new
    inputs, so that a lookup table built from printed inputs is worth nothing? Is each seed the
    one drawn from the run's seed and the submission's digest, and not the run's seed itself?"""
    import shutil

    from autograder.grading.collect import collect
    from autograder.grading.seeding import submission_seed
    from tests.test_autograde_cli import autograde

    run_seed = 424242
    folder = tmp_path / "subs" / "eve" / "exercises"
    folder.mkdir(parents=True)
    for path in (ROOT / "solutions").glob("*_attention.py"):
        shutil.copy(path, folder / path.name)
    module = folder / "simple_attention.py"
    spy = "    shifted = x - x.amax(dim=dim, keepdim=True)"
    text = module.read_text()
    assert spy in text
    module.write_text(text.replace(spy, '    print("INPUT", x.flatten()[:3].tolist())\n' + spy))
    out = tmp_path / "out"

    def grade(*extra: str) -> tuple[str, int, dict]:
        proc = autograde(tmp_path / "subs", out, *extra, seed=run_seed)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return printed_and_seed(out, "eve")

    first = grade()
    full = sum(e.points for e in manifest.load())
    assert first[2]["total"] == full and "INPUT" in first[0]
    (digest,) = [s.digest for s in collect(tmp_path / "subs")]
    assert first[1] == submission_seed(run_seed, digest) != run_seed
    assert grade("--regrade") == first  # the same bytes: the same inputs, the same result
    module.write_text(module.read_text() + "# resubmitted\n")
    second = grade()
    assert second[2]["total"] == full
    assert second[1] != first[1]
    inputs = [line for line in first[0].splitlines() if line.startswith("INPUT")]
    again = [line for line in second[0].splitlines() if line.startswith("INPUT")]
    assert inputs and again and not set(inputs) & set(again)  # no input seen before
