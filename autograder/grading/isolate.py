"""The grader's side of isolation: one zygote per batch, one sandboxed worker per submission.

`Zygote` starts `python -m autograder.grading.zygote` (a clean interpreter: it never sees the
solutions or the hidden suites) and asks it for workers. `SandboxChannel` is what a `Student`
talks through: it starts a worker on first use, sends the submission's sources, enforces the
wall-clock timeout of each call and the submission's budget, and after a timeout or a crash
starts a fresh worker for the next call. Every reply must carry the worker's seal (sent in its
first request, before any student code runs) and its number; each reply also carries, under
"evidence", the watched torch kernels the worker's record shows during that call (evidence.py),
which the student's code cannot forge or take back.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from . import evidence, protocol
from .student import StudentError, budget_ran_out, budget_spent
from .wire import Wire

START_TIMEOUT = 120.0  # the zygote imports torch once
LOAD_TIMEOUT = 30.0  # a fresh worker takes the sources (no student code runs yet)


class Zygote:
    """A pre-imported interpreter that forks sandboxed workers on request."""

    def __init__(self, wait: bool = True) -> None:
        """Start the zygote; with `wait`, until it is ready (else the first spawn, or `ready`,
        waits: the caller does its own start-up meanwhile, while the zygote imports torch)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        from .. import ROOT
        from .sandbox import minimal_environment

        env = minimal_environment(str(ROOT))  # nothing of the grader's own environment
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.grading.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        self._mode: str | None = None
        if wait:
            self.ready()

    def ready(self) -> str:
        """The sandbox mode, once the zygote has imported torch and is ready to fork workers."""
        with self.lock:
            if self._mode is None:
                self.control.settimeout(START_TIMEOUT)
                ready = self._recv()
                self.control.settimeout(30.0)
                self._mode = str(ready.get("mode", "basic"))
            return self._mode

    @property
    def mode(self) -> str:
        return self.ready()

    def _recv(self) -> dict[str, Any]:
        msg = self.control.recv(65536)
        if not msg:
            raise RuntimeError("the grading zygote exited; see the messages above")
        return json.loads(msg)

    def spawn(self, lane: int) -> tuple[int, socket.socket, int]:
        """A fresh worker: its pid (for kill), our end of its socket, and the read end of the
        pipe its record of watched kernel calls goes to (kernelwatch)."""
        self.ready()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        record, record_w = os.pipe()
        try:
            with self.lock:
                socket.send_fds(
                    self.control,
                    [json.dumps({"op": "spawn", "lane": lane}).encode()],
                    [theirs.fileno(), record_w],
                )
                reply = self._recv()
        except BaseException:
            os.close(record)
            raise
        finally:
            theirs.close()
            os.close(record_w)
        return int(reply["pid"]), ours, record

    def kill(self, pid: int) -> None:
        """End the worker and everything it started (its PID namespace dies with it)."""
        with self.lock:
            self.control.sendall(json.dumps({"op": "kill", "pid": pid}).encode())
            self._recv()

    def close(self) -> None:
        try:
            self.control.close()
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SandboxChannel:
    """One submission's worker, restarted after a timeout or a crash.

    Each awaited answer has a deadline for the whole of it (`timeout` from when it is awaited;
    the worker started on it no later). A large request is written by the same thread while its
    answer is awaited (see wire.py), so no request is ever left unsent. `budget` (seconds of
    wall clock from now, None: no limit) bounds the whole submission: past it, every request is
    a StudentError of kind "budget", and the call that was running when it ran out says so.
    """

    def __init__(
        self,
        zygote: Zygote,
        lane: int,
        sources: dict[str, str],
        budget: float | None = None,
    ) -> None:
        self.zygote, self.lane, self.sources = zygote, lane, sources
        self.pid: int | None = None
        self.wire: Wire | None = None
        self.record: evidence.Record | None = None
        self.seal = ""  # the running worker's, hex
        self.seq = 0  # the number of the worker's last reply
        self.broken = ""  # why the record is no longer trusted: sticks for the submission
        self.budget = budget
        self.ends = math.inf if budget is None else time.monotonic() + budget

    def _start(self) -> None:
        if time.monotonic() >= self.ends:  # no fresh worker once the budget is spent
            raise StudentError("budget", budget_spent(self.budget or 0.0))
        self.pid, sock, record = self.zygote.spawn(self.lane)
        seal = secrets.token_bytes(16)
        self.record = evidence.Record(record, seal)
        self.wire = Wire(sock, self.record)
        self.seal, self.seq = seal.hex(), -1
        load = {"op": "load", "sources": self.sources, "seal": self.seal}
        self.wire.send(protocol.pack(load, max_header=protocol.MAX_FRAME))
        self._receive(LOAD_TIMEOUT)

    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        if time.monotonic() >= self.ends:
            self.stop()
            raise StudentError("budget", budget_spent(self.budget or 0.0))
        if self.wire is None:
            self._start()
        assert self.wire is not None
        self.wire.send(frame)
        return self._receive(timeout)

    def _receive(self, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        """The next answer, whole within `timeout` seconds (and the budget), or StudentError."""
        if self.wire is None:
            raise StudentError("crash", CRASHED)
        deadline = min(time.monotonic() + timeout, self.ends)
        try:
            data, arrays = self.wire.receive(deadline)
            return self._sealed(data), arrays
        except TimeoutError:
            self.stop()
            if deadline == self.ends:
                raise StudentError("budget", budget_ran_out(self.budget or 0.0)) from None
            raise StudentError("timeout", f"did not return within {timeout:g} s") from None
        except (EOFError, ConnectionError, OSError):
            self.stop()
            raise StudentError("crash", CRASHED) from None
        except protocol.ProtocolError as e:
            self.stop()
            raise StudentError("protocol", f"the grading process sent garbage: {e}") from None

    def _sealed(self, data: dict[str, Any]) -> dict[str, Any]:
        """The reply, if the worker wrote it (its seal, the next number), with the evidence of
        the call's record under "evidence" (and "broken" once the record is not trusted)."""
        self.seq += 1
        if data.get("seal") != self.seal or data.get("seq") != self.seq:
            raise protocol.ProtocolError(FORGED)
        assert self.record is not None
        data["evidence"] = self.record.call(self.seq) if self.seq else []
        self.broken = self.broken or self.record.broken
        data["broken"] = self.broken
        return data

    def stop(self) -> None:
        if self.record is not None:
            self.record.close()
            self.record = None
        if self.wire is not None:
            self.wire.close()
            self.wire = None
        if self.pid is not None:
            self.zygote.kill(self.pid)
            self.pid = None


FORGED = "a reply did not come from the worker (a frame written by the code being graded)"
CRASHED = (
    "the grading process running your code ended (a crash, os._exit, a signal, "
    "or the memory or CPU limit)"
)


class RecordingChannel:
    """Wraps a channel and keeps every request frame, in order."""

    def __init__(self, inner: SandboxChannel) -> None:
        self.inner, self.frames = inner, []  # type: list[bytes]

    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        self.frames.append(frame)
        return self.inner.request(frame, timeout)
