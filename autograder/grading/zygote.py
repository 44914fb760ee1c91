"""A clean process that has imported torch and numpy once and forks one sandboxed worker per
submission, so no submission pays torch's import.

The grader starts it with `python -m autograder.grading.zygote FD` and talks to it over that
Unix socket: `spawn` (with the worker's socket end passed as a file descriptor) answers the
worker's pid; `kill` ends a worker and everything it started, and reaps it. The zygote never
imports the solutions or the hidden suites, so nothing secret is in the memory a worker inherits.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from .. import ROOT
from . import sandbox

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: no thread pool to break on fork
os.environ.setdefault("MKL_NUM_THREADS", "1")


def _warm_up() -> None:
    """Import and run once what student code typically touches, so the chrooted worker never
    needs a file from disk (it cannot reach any)."""
    import collections  # noqa: F401
    import copy  # noqa: F401
    import dataclasses  # noqa: F401
    import functools  # noqa: F401
    import itertools  # noqa: F401
    import math  # noqa: F401
    import random  # noqa: F401
    import typing  # noqa: F401

    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(1)
    x = torch.rand(2, 3, 4)
    lin = torch.nn.Linear(4, 4)
    drop = torch.nn.Dropout(0.5).train()
    heads = torch.nn.ModuleList([lin])
    scores = torch.einsum("bij,bkj->bik", x, x).masked_fill(
        torch.triu(torch.ones(3, 3), 1).bool(), -torch.inf
    )
    _ = drop(torch.softmax(scores, -1)) @ lin(x)
    _ = F.softmax(scores, -1), torch.logsumexp(scores, -1), x.view(2, 3, 2, 2).transpose(1, 2)
    _ = heads.state_dict(), repr(x), x.tolist(), torch.cat([x, x], -1), torch.stack([x, x])
    _ = F.scaled_dot_product_attention(x, x, x, is_causal=True)
    a = np.random.rand(3, 4)
    _ = np.einsum("ij,kj->ik", a, a), np.exp(a).sum(axis=1, keepdims=True), repr(a), a.max(1)
    import traceback  # noqa: F401

    from learner import kernelwatch, offlimits

    from . import protocol, worker  # noqa: F401

    # The kernels kernelwatch replaces at torch's dispatcher, for good and here once for every
    # worker (each then counts in its own page); their first calls import more.
    kernelwatch.install()
    with offlimits.watch(list(offlimits.GROUPS)):
        _ = lin(x).exp().sum(-1), torch.softmax(scores, -1), drop(x)
        _ = F.scaled_dot_product_attention(x, x, x, is_causal=True), F.log_softmax(x, -1)


@dataclass(frozen=True)
class Setup:
    """How every worker of this zygote is confined."""

    mode: str  # sandbox.detect_mode()
    mountpoint: str  # an empty folder: each worker mounts its own tmpfs root on it
    limits: sandbox.Limits
    view: sandbox.View
    own_pid_ns: int | None = None  # the zygote's PID namespace, when workers need no intermediate


def main(fd: int) -> None:
    control = socket.socket(fileno=fd)
    sandbox.die_with_parent()  # a grader killed with -9 takes the zygote and its workers along
    mode = sandbox.detect_mode()
    _warm_up()
    from . import worker

    sandbox.enter_zygote(mode)
    if mode == "basic":
        sandbox.become_subreaper()  # a worker's orphans come to us, not to init: see _kill
    mountpoint = _mountpoint()
    if mode == "basic" and os.geteuid() == 0:
        os.chmod(mountpoint, 0o711)  # each worker's uid passes through to its own 0700 folder
    setup = Setup(
        mode,
        mountpoint,
        sandbox.Limits(),
        sandbox.python_view([str(ROOT / "solutions"), str(ROOT / "autograder" / "hidden")]),
        sandbox.own_pid_namespace() if mode == "root" else None,
    )
    gc.freeze()  # workers share these pages and their collections skip them
    _send(control, {"ready": True, "mode": mode})
    children: dict[int, int] = {}  # intermediate pid -> worker pid
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 65536, 2)
        except OSError:
            break
        if not msg:
            break
        request = json.loads(msg)
        if request.get("op") == "spawn" and len(fds) == 2:
            pid, worker_pid = _spawn(setup, int(request.get("lane", 0)), fds, control, worker)
            for fd_ in fds:  # the worker's now: the zygote keeps no write end of its record
                os.close(fd_)
            children[pid] = worker_pid
            _send(control, {"pid": pid})
        elif request.get("op") == "kill":
            pid = int(request.get("pid", 0))
            if pid in children:
                _kill(mode, pid, children.pop(pid))
                if mode == "basic" and not children:
                    _sweep(set())  # what the worker left running, now that none is alive
                if mode == "basic":
                    shutil.rmtree(os.path.join(setup.mountpoint, f"w{pid}"), ignore_errors=True)
            _send(control, {"killed": pid})
        else:
            for fd_ in fds:
                os.close(fd_)
            _send(control, {"error": "unknown request"})
    for pid, worker_pid in children.items():
        _kill(mode, pid, worker_pid)
    if mode == "basic":
        _sweep(set())
    # the mount point itself stays: one empty folder per user, reused by every run


def _mountpoint() -> str:
    """An empty folder of our own, the same for every run of this user (so a zygote killed
    with -9 leaves nothing new behind); a fresh one if that path is not safely ours."""
    path = os.path.join(tempfile.gettempdir(), f"attention-kit-sandbox-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="attention-kit-sandbox-")
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and mode in (0o700, 0o711):
        return path
    return tempfile.mkdtemp(prefix="attention-kit-sandbox-")


def _spawn(
    setup: Setup, lane: int, fds: list[int], control: socket.socket, worker: Any
) -> tuple[int, int]:
    """Fork the worker, as PID 1 of a PID namespace of its own: straight away when the zygote
    may (root), else through an intermediate that forks it. Returns (the zygote's child's pid,
    the worker's pid). `fds`: the worker's socket and the write end of its record's pipe (see
    kernelwatch)."""
    if setup.own_pid_ns is not None:
        pid = sandbox.fork_alone(setup.own_pid_ns)
        if pid == 0:
            try:
                sandbox.die_with_parent()
                control.close()
                sandbox.enter_worker_namespaces(setup.mode, pid=False)
                os.setsid()  # a process group of its own, as below
                _run_worker(setup, lane, fds, worker)
            finally:
                os._exit(70)
        return pid, pid
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as r:
            worker_pid = int(r.read() or pid)
        return pid, worker_pid
    # the intermediate: new namespaces, then the worker as PID 1 of its own PID namespace
    status = 70
    try:
        sandbox.die_with_parent()
        control.close()
        os.close(read_end)
        sandbox.enter_worker_namespaces(setup.mode)
        if setup.mode == "basic":
            os.write(write_end, str(os.getpid()).encode())
            os.close(write_end)
            _run_worker(setup, lane, fds, worker)  # never returns
        child = os.fork()
        if child == 0:
            os.close(write_end)
            # A process group of its own: kill(0) (getppid() is 0 in the PID namespace) and
            # killpg reach the worker and its children only, not the grader's group.
            os.setsid()
            _run_worker(setup, lane, fds, worker)
        os.write(write_end, str(child).encode())
        os.close(write_end)
        for fd in fds:
            os.close(fd)
        _, st = os.waitpid(child, 0)  # returns once every process of the namespace is gone
        status = os.waitstatus_to_exitcode(st) & 0xFF
    finally:
        os._exit(status)


def _run_worker(setup: Setup, lane: int, fds: list[int], worker: Any) -> None:
    code = 0
    fd, record = fds
    try:
        mountpoint = setup.mountpoint
        if setup.mode == "basic":
            mountpoint = os.path.join(mountpoint, f"w{os.getpid()}")
            os.mkdir(mountpoint, 0o700)
        keep = sorted(fds)  # nothing of the zygote's stays open but the grader's two ends
        os.closerange(3, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, 1 << 16)
        root = sandbox.confine(setup.mode, mountpoint, lane, setup.limits, setup.view)
        sock = socket.socket(fileno=fd)
        os.environ.clear()
        os.environ.update({"HOME": root, "TMPDIR": root, "OMP_NUM_THREADS": "1"})
        _quiet_std_fds(root)
        worker.serve(sock, root, record)
    except BaseException:
        code = 71
    finally:
        os._exit(code)


def _quiet_std_fds(root: str) -> None:
    """Raw writes to fd 1 and 2 go to a capped file in the worker's own folder, stdin is empty."""
    out = os.open(os.path.join(root, ".output"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY) if os.path.exists(os.devnull) else None
    if null is not None:
        os.dup2(null, 0)
        os.close(null)
    else:
        os.close(0)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)


def _kill(mode: str, pid: int, worker_pid: int) -> None:
    """Kill the worker, then reap the zygote's child (the worker, or its intermediate): in a PID
    namespace the worker is its PID 1, and its end is reaped only once every process of the
    namespace is gone."""
    try:
        if mode == "basic":
            os.killpg(worker_pid, signal.SIGKILL)
        os.kill(worker_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    if mode == "basic":
        # A daemon (forked after setsid) is in no process group of the worker's: as root, every
        # process of the worker's own uid goes; otherwise the orphans we adopted do (_sweep).
        sandbox.kill_uid(sandbox.basic_uid(worker_pid))


SWEEPS = 50  # rounds of killing adopted orphans: each round's kills may orphan their children


def _sweep(keep: set[int]) -> None:
    """Kill and reap every child of ours but `keep`: in "basic" mode we are a child subreaper,
    so a worker's daemon that outlived it was reparented to us (Linux; elsewhere none is)."""
    for _ in range(SWEEPS):
        found = [pid for pid in sandbox.children_of(os.getpid()) if pid not in keep]
        if not found:
            return
        for pid in found:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in found:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _send(control: socket.socket, data: dict) -> None:
    control.sendall(json.dumps(data).encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
