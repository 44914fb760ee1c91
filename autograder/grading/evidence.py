"""The grader's side of a worker's record of watched kernel calls (see kernelwatch).

The worker writes to a pipe whose read end only the grader holds: a byte per call of a watched
torch kernel, from any thread or forked child, and sealed OPEN/CLOSE markers around each call it
answers. The grader attributes the bytes after call n-1's CLOSE marker, up to call n's, to call
n. Code being graded can add bytes (which only counts against itself) but cannot take any back.
The seal lives in the worker's memory, which that code can read: a marker it forges (a CLOSE
before its kernel call) is then followed by the worker's own, a marker twice. A record that
stops (the pipe closed or replaced), holds bytes that are neither, is flooded, carries a wrong
seal or a marker out of order is broken: from then on every off-limits exercise of the
submission scores 0.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from learner import kernelwatch

LIMIT = 1 << 22  # bytes read at once: more is a flood (a byte per call: 4 million calls)
MARKER = 1 + kernelwatch.SEAL_BYTES + kernelwatch.SEQ_BYTES
OPS = list(kernelwatch.OPS)

BROKEN = (
    "the record of torch calls kept while your code runs was cut off or tampered with "
    "(a file descriptor closed or replaced, or bytes written to it), so every exercise that "
    "forbids a library function scores 0"
)


class Record:
    """One worker's record, read from `fd` (the pipe's read end; this object closes it).

    The record must read, call after call: kernel bytes, OPEN n, kernel bytes, CLOSE n, with
    n = 1, 2, ... The kernel bytes between OPEN n and CLOSE n are call n's; those before OPEN n
    (the import of the module its name is in, which runs before the worker opens the call, or
    a thread an earlier call left running, which cannot know call n's inputs) are nobody's: an
    honest module may call softmax at its top level. Anything else breaks the record."""

    def __init__(self, fd: int, seal: bytes) -> None:
        os.set_blocking(fd, False)
        self.fd, self.seal = fd, seal
        self.buf = bytearray()
        self.broken = ""  # why the record cannot be trusted any more ("" while it can)
        self.ops: set[int] = set()  # kernel bytes since the last CLOSE
        self.opened = 0  # the call whose OPEN came last, until its CLOSE
        self.closed = 0  # the call whose CLOSE came last
        self.done: dict[int, list[str]] = {}  # closed calls not yet asked for

    def fileno(self) -> int:
        return self.fd

    def pull(self) -> None:
        """Read what the pipe holds now, without waiting, and parse it."""
        while self.fd >= 0 and not self.broken:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:  # every write end closed: nothing more will come
                self.close()
                break
            self.buf += chunk
            if len(self.buf) > LIMIT:
                self._break()
        self._parse()

    def _parse(self) -> None:
        buf, pos = self.buf, 0
        while pos < len(buf) and not self.broken:
            b = buf[pos]
            if b < len(OPS):
                self.ops.add(b)
                pos += 1
                continue
            if pos + MARKER > len(buf):  # a marker not yet whole: kept for the next pull
                break
            seal = bytes(buf[pos + 1 : pos + 1 + kernelwatch.SEAL_BYTES])
            n = int.from_bytes(buf[pos + 1 + kernelwatch.SEAL_BYTES : pos + MARKER], "little")
            pos += MARKER
            if seal != self.seal:
                self._break()
            elif b == kernelwatch.OPEN and not self.opened and n == self.closed + 1:
                self.opened = n
                self.ops.clear()
            elif b == kernelwatch.CLOSE and self.opened == n:
                self.done[n] = [OPS[i] for i in sorted(self.ops)]
                self.ops.clear()
                self.opened, self.closed = 0, n
            else:  # a byte that is neither, a marker twice, out of order
                self._break()
        del buf[:pos]
        if self.fd < 0 and buf and not self.broken:  # the writer is gone mid-marker
            self._break()

    def _break(self) -> None:
        self.broken = BROKEN
        self.buf.clear()
        self.done.clear()

    def call(self, seq: int) -> list[str]:
        """The watched operators called during call `seq` (between its markers). Sets
        `broken` and returns [] when the record does not hold its CLOSE marker: the worker
        writes it before its reply, so it is in the pipe when the reply arrives."""
        self.pull()
        ops = self.done.pop(seq, None)
        for n in [n for n in self.done if n < seq]:  # answers dropped unread
            del self.done[n]
        if ops is None and not self.broken:
            self._break()
        return ops or []

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def witnessed(seal: bytes) -> Iterator[Record]:
    """This process's own watched calls recorded through a pipe and read back here, as the
    grader reads a worker's (benchmarks and tests); the previous witness is restored after."""
    r, w = os.pipe()
    record, previous = Record(r, seal), kernelwatch._witness
    kernelwatch.witness(w, seal)
    try:
        yield record
    finally:
        kernelwatch._witness = previous
        record.close()
        os.close(w)
