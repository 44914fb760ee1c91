"""The record of watched kernel calls a worker writes to the grader's pipe (kernelwatch.witness,
kernelwatch.mark) and the grader's reading of it (grading/evidence.py): calls are attributed to
the call whose markers surround them, and a record that is cut off, forged or flooded is broken.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import torch

from autograder.grading import evidence
from learner import kernelwatch

SEAL = bytes(range(16))


def marker(kind: int, seq: int, seal: bytes = SEAL) -> bytes:
    return bytes((kind,)) + seal + seq.to_bytes(4, "little")


def op(name: str) -> bytes:
    return bytes((list(kernelwatch.OPS).index(name),))


@pytest.fixture
def pipe() -> Iterator[tuple[evidence.Record, int]]:
    r, w = os.pipe()
    record = evidence.Record(r, SEAL)
    yield record, w
    record.close()
    os.close(w)


def test_calls_between_markers_are_that_calls(pipe: tuple[evidence.Record, int]) -> None:
    """Are the bytes between call n's OPEN and CLOSE call n's, and those before its OPEN (the
    import of its module, a thread an earlier call left running) nobody's?"""
    record, w = pipe
    os.write(w, op("_softmax") + marker(kernelwatch.OPEN, 1) + marker(kernelwatch.CLOSE, 1))
    os.write(w, marker(kernelwatch.OPEN, 2) + op("_log_softmax") + op("_softmax"))
    os.write(w, marker(kernelwatch.CLOSE, 2) + op("_softmax") + marker(kernelwatch.OPEN, 3))
    os.write(w, marker(kernelwatch.CLOSE, 3))
    assert record.call(1) == []
    assert record.call(2) == ["_softmax", "_log_softmax"]
    assert record.call(3) == []
    assert record.broken == ""


def test_a_dropped_answer_is_skipped(pipe: tuple[evidence.Record, int]) -> None:
    """When the grader never asks for call 1's record (its answer was dropped), does call 2
    still get exactly its own calls?"""
    record, w = pipe
    os.write(w, marker(kernelwatch.OPEN, 1) + op("_softmax") + marker(kernelwatch.CLOSE, 1))
    os.write(w, marker(kernelwatch.OPEN, 2) + marker(kernelwatch.CLOSE, 2))
    assert record.call(2) == []
    assert record.broken == ""


def test_a_marker_split_across_reads_is_whole(pipe: tuple[evidence.Record, int]) -> None:
    record, w = pipe
    whole = marker(kernelwatch.OPEN, 1) + op("_softmax") + marker(kernelwatch.CLOSE, 1)
    os.write(w, whole[:7])
    record.pull()
    os.write(w, whole[7:])
    assert record.call(1) == ["_softmax"] and record.broken == ""


@pytest.mark.parametrize(
    "written",
    [
        b"",  # the pipe was redirected: no marker arrives
        marker(kernelwatch.OPEN, 1),  # no CLOSE
        marker(kernelwatch.CLOSE, 1, seal=bytes(16)),  # a marker forged without the seal
        b"\x80" + marker(kernelwatch.CLOSE, 1),  # a byte that is neither a call nor a marker
        marker(kernelwatch.CLOSE, 2),  # a later call's marker first
        # a CLOSE forged early (the seal read from the worker's memory), then the kernel call,
        # then the worker's own CLOSE: the marker twice
        marker(kernelwatch.OPEN, 1)
        + marker(kernelwatch.CLOSE, 1)
        + op("_softmax")
        + marker(kernelwatch.CLOSE, 1),
    ],
    ids=["nothing", "open_only", "wrong_seal", "junk", "out_of_order", "close_twice"],
)
def test_a_record_without_its_sealed_marker_is_broken(
    pipe: tuple[evidence.Record, int], written: bytes
) -> None:
    record, w = pipe
    os.write(w, written)
    assert record.call(1) == []
    assert record.broken == evidence.BROKEN
    os.write(w, marker(kernelwatch.CLOSE, 2))
    assert record.call(2) == [] and record.broken == evidence.BROKEN  # it stays broken


def test_a_flood_breaks_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "LIMIT", 100)
    r, w = os.pipe()
    record = evidence.Record(r, SEAL)
    os.write(w, op("_softmax") * 101)
    record.pull()
    assert record.broken == evidence.BROKEN
    record.close()
    os.close(w)


def test_the_record_survives_its_writer() -> None:
    """A worker that wrote its marker and then exited (the pipe at end of file) is still read."""
    r, w = os.pipe()
    record = evidence.Record(r, SEAL)
    os.write(w, marker(kernelwatch.OPEN, 1) + op("_softmax") + marker(kernelwatch.CLOSE, 1))
    os.close(w)
    assert record.call(1) == ["_softmax"]
    assert record.fd == -1 and record.broken == ""


def test_kernel_calls_from_any_thread_reach_the_pipe() -> None:
    """With a witness, does torch.softmax write its byte, from the main thread and from another,
    between the markers the worker writes?"""
    with kernelwatch.scoped(), evidence.witnessed(SEAL) as record:
        kernelwatch.mark(kernelwatch.OPEN, 1)
        worker = threading.Thread(target=lambda: torch.log_softmax(torch.ones(3), 0))
        worker.start()
        worker.join()
        torch.softmax(torch.ones(3), 0)
        kernelwatch.mark(kernelwatch.CLOSE, 1)
        torch.exp(torch.ones(3))  # not watched: nothing written
        kernelwatch.mark(kernelwatch.OPEN, 2)
        kernelwatch.mark(kernelwatch.CLOSE, 2)
        assert record.call(1) == ["_softmax", "_log_softmax"]
        assert record.call(2) == []


def _page_of_counters() -> tuple[int, int]:
    import ctypes

    page = kernelwatch._counts.obj  # the mmap behind the counters
    return ctypes.addressof(ctypes.c_char.from_buffer(page)), len(page)


def test_rewriting_the_counters_does_not_rewrite_the_record() -> None:
    """Code that saves the counter page through /proc/self/mem, calls torch.softmax and writes
    the page back hides the call from the counters, but not from the record already sent."""
    try:
        open("/proc/self/mem", "r+b", buffering=0).close()
    except OSError as e:
        pytest.skip(f"/proc/self/mem is not writable here, so the attack cannot be shown: {e}")
    with kernelwatch.scoped(), evidence.witnessed(SEAL) as record:
        kernelwatch.mark(kernelwatch.OPEN, 1)
        before = kernelwatch.snapshot()
        address, length = _page_of_counters()
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(address)
            saved = mem.read(length)
            torch.softmax(torch.ones(3), 0)
            mem.seek(address)
            mem.write(saved)
        hidden = kernelwatch.recorded(before, ["softmax"])
        kernelwatch.mark(kernelwatch.CLOSE, 1)
        assert hidden == []  # the counters were wiped: the worker's own check sees nothing
        assert record.call(1) == ["_softmax"]
