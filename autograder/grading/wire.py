"""One worker's socket, from the grader's side: requests written without ever blocking, each reply
read against a deadline for the whole reply.

It runs in the grader's one thread. While a reply is awaited, what is left of a request too
large for the socket's buffer (a submission's sources) is written whenever the socket has room,
so a worker that is slow to read it only delays it: no writer can time out, stall or die on its
own and leave a later request unsent. The deadline bounds the reply as a whole, however its
bytes are paced (a worker that writes a frame header and then a byte every few seconds is cut
off at the deadline).
"""

from __future__ import annotations

import collections
import selectors
import socket
import time
from typing import Any

import numpy as np

from . import protocol


class Wire:
    """Non-blocking frames over a connected stream socket (ours; the worker holds the other end).

    `receive` raises TimeoutError at the deadline, EOFError or OSError when the worker is gone,
    and ProtocolError for a frame the protocol refuses."""

    def __init__(self, sock: socket.socket, record: Any = None) -> None:
        """`record`: the worker's evidence.Record, whose pipe is drained while replies are
        awaited, so the worker never waits on a full pipe."""
        sock.setblocking(False)
        self.sock = sock
        self.outbox: collections.deque[memoryview] = collections.deque()  # not yet written
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)
        self.record = record
        if record is not None:
            self.selector.register(record, selectors.EVENT_READ, "record")

    def send(self, frame: bytes) -> None:
        """Queue `frame` and write what the socket takes now; the rest goes out while waiting."""
        self.outbox.append(memoryview(frame))
        self._flush()

    def receive(
        self, deadline: float, max_header: int = protocol.MAX_HEADER
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """The next frame, whole by `deadline` (time.monotonic()), decoded and validated."""
        return protocol.read_frame(lambda n: self._read(n, deadline), max_header)

    def close(self) -> None:
        self.outbox.clear()
        self.selector.close()
        self.sock.close()

    def _read(self, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:])
            except BlockingIOError:
                self._wait(deadline)
                continue
            if k == 0:
                raise EOFError
            got += k
        return buf

    def _wait(self, deadline: float) -> None:
        """Until the socket is readable (writing queued requests meanwhile), or TimeoutError."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outbox else 0)
            self.selector.modify(self.sock, events)
            ready = False
            for key, mask in self.selector.select(left):
                if key.data == "record":
                    self.record.pull()
                    if self.record.fd < 0 or self.record.broken:  # nothing more to drain
                        self.selector.unregister(key.fileobj)
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._flush()
                if mask & selectors.EVENT_READ:
                    ready = True
            if ready:
                return

    def _flush(self) -> None:
        while self.outbox:
            try:
                k = self.sock.send(self.outbox[0])
            except BlockingIOError:
                return
            except OSError:  # the worker is gone: the next read sees it
                self.outbox.clear()
                return
            if k < len(self.outbox[0]):
                self.outbox[0] = self.outbox[0][k:]
            else:
                self.outbox.popleft()
