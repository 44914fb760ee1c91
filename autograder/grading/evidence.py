"""The grader's side of a worker's record of watched kernel calls (see kernelwatch).

The worker writes to a pipe whose read end only the grader holds: a byte per call of a watched
torch kernel, from any thread or forked child, and sealed OPEN/CLOSE markers around each call it
answers. The grader attributes the bytes between call n's markers to call n. Code being graded
can add bytes (which only counts against itself) but cannot take any back, and cannot write a
marker without the seal, which only the worker's memory holds. A record that stops (the pipe
closed or replaced), holds bytes that are neither, is flooded, or carries a wrong seal is
broken: from then on every off-limits exercise of the submission scores 0.
"""

from __future__ import annotations

import os

from .. import kernelwatch

LIMIT = 1 << 22  # bytes held unparsed: more is a flood (a byte per call: 4 million calls)
MARKER = 1 + kernelwatch.SEAL_BYTES + kernelwatch.SEQ_BYTES
OPS = list(kernelwatch.OPS)

BROKEN = (
    "the record of torch calls kept while your code runs was cut off or tampered with "
    "(a file descriptor closed or replaced, or bytes written to it), so every exercise that "
    "forbids a library function scores 0"
)


class Record:
    """One worker's record, read from `fd` (the pipe's read end; this object closes it)."""

    def __init__(self, fd: int, seal: bytes) -> None:
        os.set_blocking(fd, False)
        self.fd, self.seal = fd, seal
        self.buf = bytearray()
        self.broken = ""  # why the record cannot be trusted any more ("" while it can)

    def fileno(self) -> int:
        return self.fd

    def pull(self) -> None:
        """Read what the pipe holds now, without waiting."""
        while self.fd >= 0 and not self.broken:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:  # every write end closed: nothing more will come
                self.close()
                return
            self.buf += chunk
            if len(self.buf) > LIMIT:
                self.broken = BROKEN
                self.buf.clear()

    def call(self, seq: int) -> list[str]:
        """The watched operators called during call `seq` (between its markers; bytes before
        its OPEN marker, such as imports, are not its own). Sets `broken` and returns [] when
        the record does not hold call `seq`'s CLOSE marker."""
        self.pull()
        if self.broken:
            return []
        ops: set[int] = set()
        inside, pos = False, 0
        buf = self.buf
        while pos < len(buf):
            b = buf[pos]
            if b < len(OPS):
                if inside:
                    ops.add(b)
                pos += 1
                continue
            if b not in (kernelwatch.OPEN, kernelwatch.CLOSE) or pos + MARKER > len(buf):
                break
            seal = bytes(buf[pos + 1 : pos + 1 + kernelwatch.SEAL_BYTES])
            n = int.from_bytes(buf[pos + 1 + kernelwatch.SEAL_BYTES : pos + MARKER], "little")
            if seal != self.seal or n > seq:
                break
            pos += MARKER
            if n < seq:  # a call whose answer was not asked for (dropped): not this one's
                continue
            if b == kernelwatch.OPEN:
                inside = True
                continue
            del buf[:pos]
            return [OPS[i] for i in sorted(ops)]
        self.broken = BROKEN
        self.buf.clear()
        return []

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
