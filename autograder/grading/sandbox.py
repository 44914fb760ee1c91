"""Confine a forked worker: namespaces, a private tmpfs root, a separate user, resource limits.

Modes, chosen once per zygote by `detect_mode()`:
- "root": Linux as root. The worker gets new mount, PID, network, IPC and UTS namespaces, a
  fresh size-capped tmpfs as its root (chroot), and runs as an unprivileged uid of its own.
  It sees no file of the host: not the solutions, the hidden suites, other submissions or OUT.
- "userns": Linux as an ordinary user with unprivileged user namespaces: the same, with every
  capability dropped instead of a uid switch.
- "basic": elsewhere (macOS, or user namespaces disabled): a process group, resource limits
  and a scratch folder only. The grader says so once; the worker can then read what you can.
  As root (a container without namespaces, such as Gradescope's), the worker still switches
  to an unprivileged uid of its own (one per worker), so it cannot write or kill anything of
  the grader's, read another worker's files, and nothing running as that uid outlives it.
ATTENTION_KIT_SANDBOX=basic chooses "basic" on any machine.

On Linux, in every mode, each worker also gets a seccomp filter (`deny_shared_state`): the
system calls that reach state shared with other processes or kept by the kernel beyond the
worker's life (SysV IPC, POSIX message queues, keyrings, ptrace, bpf, io_uring, new
namespaces, ...) fail with EPERM. Attention code needs none of them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import seccomp  # imported now: a chrooted worker cannot import it later

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 0x400, 0x800, 0x1000, 0x4000, 0x40000
MS_RELATIME = 0x200000
_KEEP = {  # statvfs flags a read-only remount must keep (locked inside a user namespace)
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 38, 24
SANDBOX_UID_BASE = 61000  # uid 61000 + lane in "root" mode: no files, no other processes
BASIC_UID_BASE = 100000  # uid 100000 + worker pid in "basic" mode as root: one per worker


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 * 1024**3  # address space on top of what the zygote maps already
    cpu_seconds: int = 60  # per submission (the grader's wall clock is per call)
    processes: int = 32  # per lane uid ("root" mode) or on top of the user's count
    file_bytes: int = 8 * 1024**2  # largest file the worker may write
    tmpfs_bytes: int = 32 * 1024**2  # all it may write
    open_files: int = 64


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


LIBC = _libc() if sys.platform.startswith("linux") else None


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux; a no-op elsewhere)."""
    if LIBC is not None:
        _check(LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def unshare(flags: int) -> None:
    assert LIBC is not None
    _check(LIBC.unshare(flags), "unshare")


def detect_mode() -> str:
    """The strongest mode this machine allows, tried in a throwaway child."""
    if LIBC is None or os.environ.get("ATTENTION_KIT_SANDBOX") == "basic":
        return "basic"

    def zygote_and_worker(mode: str) -> None:
        enter_zygote(mode)
        unshare(CLONE_NEWNS | CLONE_NEWPID)

    for mode in ("root", "userns") if os.geteuid() == 0 else ("userns",):
        if _works_in_child(lambda m=mode: zygote_and_worker(m)):
            return mode
    return "basic"


def _works_in_child(attempt: Callable[[], None]) -> bool:
    """Whether `attempt()` runs without raising in a throwaway child: what it changes of the
    process (namespaces, ids) never touches this one, whether it succeeds or fails half-way."""
    pid = os.fork()
    if pid == 0:
        try:
            attempt()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return status == 0


def enter_zygote(mode: str) -> None:
    """Once, in the zygote: a user namespace if needed, and no network for anyone after."""
    if mode == "basic":
        return
    uid, gid = os.getuid(), os.getgid()
    if mode == "userns":
        unshare(CLONE_NEWUSER)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_worker_namespaces(mode: str, pid: bool = True) -> None:
    """New mount and IPC namespaces, and with `pid` a PID namespace (the next child is its
    PID 1): in the worker, or in the intermediate that forks it. The IPC namespace is the
    worker's alone, and whatever SysV object is in it dies with it."""
    if mode != "basic":
        unshare(CLONE_NEWNS | CLONE_NEWIPC | (CLONE_NEWPID if pid else 0))
    else:
        os.setsid()


def own_pid_namespace() -> int | None:
    """A descriptor of this process's PID namespace when it may fork each child straight into
    a new one (`fork_alone`: unshare, fork, setns back), else None. Root may; in a user
    namespace, the PID namespace belongs to the host's and setns back is refused."""
    if LIBC is None:
        return None
    try:
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None

    def out_and_back() -> None:
        assert LIBC is not None
        unshare(CLONE_NEWPID)
        _check(LIBC.setns(fd, CLONE_NEWPID), "setns")

    if not _works_in_child(out_and_back):
        os.close(fd)
        return None
    return fd


def fork_alone(own: int) -> int:
    """fork(), the child as PID 1 of a PID namespace of its own; this process's later children
    are in its own namespace again (`own`: from own_pid_namespace)."""
    assert LIBC is not None
    unshare(CLONE_NEWPID)
    try:
        pid = os.fork()
    except BaseException:
        _check(LIBC.setns(own, CLONE_NEWPID), "setns")
        raise
    if pid:
        _check(LIBC.setns(own, CLONE_NEWPID), "setns")
    return pid


# The environment the zygote starts with: nothing of the grader's but these names, so that no
# secret of the instructor's (ATTENTION_KIT_SEED, a CI token) is anywhere in its memory, not even
# in the environment block on its stack, which every worker inherits.
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "LD_LIBRARY_PATH")
SANDBOX_ENV = "ATTENTION_KIT_SANDBOX"


def minimal_environment(python_path: str) -> dict[str, str]:
    """The zygote's whole environment: locale, the temp and library folders, a PATH of its own,
    one thread, a harmless HOME, the sandbox mode chosen, and `python_path` (where the kit is)."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"])
    env.setdefault("LANG", "C.UTF-8")
    if os.environ.get(SANDBOX_ENV) == "basic":
        env[SANDBOX_ENV] = "basic"
    env.update(
        HOME="/nonexistent",
        PYTHONPATH=python_path,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4


def become_subreaper() -> None:
    """Orphans of our descendants become our children (Linux; a no-op elsewhere)."""
    if LIBC is not None:
        _check(LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (Linux: /proc; [] elsewhere)."""
    found = []
    try:
        names = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for name in names:
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(name))
    return found


def basic_uid(worker_pid: int) -> int:
    """The uid a "basic"-mode worker run by root takes: its own (pids are unique among the
    living, and nothing of that uid outlives the worker, see `kill_uid`)."""
    return BASIC_UID_BASE + worker_pid


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as `uid` (as root; a no-op otherwise): a child takes that
    uid and calls kill(-1), which reaches every process the uid may signal in one step, so a
    forking daemon cannot slip between a scan and a kill."""
    if os.geteuid() != 0:
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(100):
                os.kill(-1, signal.SIGKILL)  # all of the uid's processes but this one
        except ProcessLookupError:
            code = 0  # nothing left to signal
        except BaseException:
            pass
        os._exit(code)
    os.waitpid(pid, 0)


@dataclass(frozen=True)
class View:
    """What of the host a worker sees: Python's own folders, read-only, minus the secrets."""

    readable: tuple[str, ...]  # bound read-only at the same path
    hidden: tuple[str, ...]  # inside `readable`, covered by an empty folder


def python_view(secrets: list[str]) -> View:
    """The interpreter's standard library and site-packages (so student code can import what is
    installed), without `secrets` (the solutions, the hidden suites) should they lie inside."""
    import site
    import sysconfig

    names = ("stdlib", "platstdlib", "purelib", "platlib")
    found = {
        os.path.realpath(p) for p in [*map(sysconfig.get_path, names), *site.getsitepackages()]
    }
    dirs = sorted(p for p in found if os.path.isdir(p))
    readable = [p for p in dirs if not any(p != q and p.startswith(q + os.sep) for q in dirs)]
    secret = [os.path.realpath(s) for s in secrets if os.path.exists(s)]
    hidden = [s for s in secret if any(s == r or s.startswith(r + os.sep) for r in readable)]
    return View(tuple(readable), tuple(hidden))


def _show(root: str, view: View, uid: int) -> None:
    """Bind `view.readable` read-only under `root`, and cover `view.hidden` with empty folders."""
    assert LIBC is not None
    for path in view.readable:
        target = root + path
        os.makedirs(target, exist_ok=True)
        _check(LIBC.mount(path.encode(), target.encode(), None, MS_BIND | MS_REC, None), "bind")
        kept = os.statvfs(path).f_flag
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        flags |= sum(ms for st, ms in _KEEP.items() if kept & st)
        _check(LIBC.mount(None, target.encode(), None, flags, None), "read-only remount")
    for path in view.hidden:
        opts = f"size=4096,nr_inodes=4,mode=0555,uid={uid},gid={uid}".encode()
        flags = MS_NOSUID | MS_NODEV | MS_RDONLY
        _check(LIBC.mount(b"tmpfs", (root + path).encode(), b"tmpfs", flags, opts), "hide")


def confine(mode: str, mountpoint: str, lane: int, limits: Limits, view: View) -> str:
    """In the worker itself: make its root a private tmpfs that shows only `view`, drop
    privileges, set limits. Returns the folder the worker may write (its new root, or a
    scratch folder in "basic")."""
    mapped = _mapped_bytes()  # read /proc now: the new root has none
    own = 0 if mode == "root" else _own_process_count()
    if mode == "basic":
        root = mountpoint
        if os.geteuid() == 0:  # no namespaces, but root: a uid of this worker's own all the same
            uid = basic_uid(os.getpid())
            os.chown(mountpoint, uid, uid)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            own = 0
            if LIBC is not None:
                die_with_parent()  # after the uid change, which clears it
    else:
        assert LIBC is not None
        _check(LIBC.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount private")
        uid = SANDBOX_UID_BASE + lane if mode == "root" else 0
        opts = f"size={limits.tmpfs_bytes},nr_inodes=2048,mode=0700,uid={uid},gid={uid}"
        _check(
            LIBC.mount(
                b"tmpfs", mountpoint.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts.encode()
            ),
            "mount tmpfs",
        )
        _show(mountpoint, view, uid)
        os.chroot(mountpoint)
        os.chdir("/")
        root = "/"
        if mode == "root":
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        else:
            _drop_capabilities()
        die_with_parent()  # after the uid change, which clears it
        # Import only from the read-only folders: a module the worker writes (or a folder it
        # creates where a missing sys.path entry would be) can never be imported.
        sys.path[:] = [p for p in sys.path if p and os.path.isdir(p) and not os.access(p, os.W_OK)]
    _set_limits(limits, mapped, own)
    if LIBC is not None:
        _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        # Not dumpable: /proc/self/mem (there in "basic") is then closed to the worker's own
        # uid, so its code cannot rewrite the worker's memory without ctypes.
        _check(LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")
        deny_shared_state()
    return root


def deny_shared_state() -> None:
    """The worker's seccomp filter (see seccomp.py); no_new_privs must be set already."""
    assert LIBC is not None
    seccomp.install(LIBC)


def _drop_capabilities() -> None:
    """Empty the bounding, effective, permitted and inheritable sets (so no chroot escape)."""
    assert LIBC is not None
    for cap in range(64):
        if LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(0x20080522, 0)
    data = (Data * 2)()
    _check(LIBC.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _set_limits(limits: Limits, mapped: int, own_processes: int) -> None:
    def cap(kind: int, value: int) -> None:
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_AS, mapped + limits.memory_bytes)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, limits.file_bytes)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)
    if hasattr(resource, "RLIMIT_NPROC"):
        cap(resource.RLIMIT_NPROC, own_processes + limits.processes)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails, it does not kill


def _mapped_bytes() -> int:
    """Current virtual size of this process (Linux), or a generous guess elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 8 * 1024**3


def _own_process_count() -> int:
    try:
        uid = os.getuid()
        return sum(
            1 for p in os.listdir("/proc") if p.isdigit() and os.stat(f"/proc/{p}").st_uid == uid
        )
    except OSError:
        return 256
