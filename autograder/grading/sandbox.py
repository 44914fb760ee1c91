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
  to an unprivileged uid of its own, so it cannot write or kill anything of the grader's.
ATTENTION_KIT_SANDBOX=basic chooses "basic" on any machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from dataclasses import dataclass

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
    for mode in ("root", "userns") if os.geteuid() == 0 else ("userns",):
        pid = os.fork()
        if pid == 0:
            try:
                enter_zygote(mode)
                unshare(CLONE_NEWNS | CLONE_NEWPID)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        if status == 0:
            return mode
    return "basic"


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


def enter_worker_namespaces(mode: str) -> None:
    """In the intermediate child: new mount and PID namespaces (its next child is PID 1)."""
    if mode != "basic":
        unshare(CLONE_NEWNS | CLONE_NEWPID)
    else:
        os.setsid()


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
        if os.geteuid() == 0:  # no namespaces, but root: another uid all the same
            uid = SANDBOX_UID_BASE + lane
            os.chown(mountpoint, uid, uid)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            own = 0
            if LIBC is not None:
                _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
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
        _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        die_with_parent()  # after the uid change, which clears it
        # Import only from the read-only folders: a module the worker writes (or a folder it
        # creates where a missing sys.path entry would be) can never be imported.
        sys.path[:] = [p for p in sys.path if p and os.path.isdir(p) and not os.access(p, os.W_OK)]
    _set_limits(limits, mapped, own)
    return root


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
