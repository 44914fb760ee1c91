"""One time limit for student code run in the student's own process (make check, its maps)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# A public test runs in milliseconds; one still running after this is stuck in a loop.
SECONDS = float(os.environ.get("ATTENTION_KIT_TEST_SECONDS", "10"))


class Stuck(Exception):
    """Raised inside student code that has run for SECONDS."""


@contextmanager
def limited(seconds: float = SECONDS) -> Iterator[None]:
    """Raise Stuck in the block after `seconds` (Linux and macOS, main thread only; elsewhere
    the block runs unlimited)."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def stuck(signum: int, frame: object) -> None:
        raise Stuck(f"still running after {seconds:g} s: is there a loop that never ends?")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
