"""The wire format: what a worker may send back is plain numbers, and anything else is refused."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time

import numpy as np
import pytest
import torch

from autograder.grading import protocol
from autograder.grading.protocol import ProtocolError
from autograder.grading.wire import Wire


def roundtrip(obj: object) -> protocol.Value:
    w = protocol.writer()
    frame = protocol.pack({"value": protocol.encode_value(obj, w)}, w)
    data, arrays = protocol.read_frame(io.BytesIO(frame).read)
    return protocol.decode_value(data["value"], arrays)


def raw_frame(header: dict | str, body: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    return struct.pack("<II", len(text), len(body)) + text.encode() + body


def test_tensors_arrays_and_tuples_come_back_with_kind_dtype_and_values() -> None:
    """Does a (tensor, ndarray, float) tuple arrive as those kinds with the same numbers?"""
    value = roundtrip((torch.tensor([[1.5, -2.0]]), np.arange(3, dtype=np.int64), 0.25))
    t, a, f = value.items
    assert (t.kind, t.dtype, t.array.tolist()) == ("torch", "float32", [[1.5, -2.0]])
    assert (a.kind, a.dtype, a.array.tolist()) == ("numpy", "int64", [0, 1, 2])
    assert (f.kind, f.scalar) == ("float", 0.25)


def test_a_state_dict_comes_back_as_a_dict_of_arrays() -> None:
    """Does a module's state_dict() (an OrderedDict) arrive as a dict with its keys in order?"""
    value = roundtrip(torch.nn.Linear(2, 3, bias=False).state_dict())
    assert (value.kind, value.keys) == ("dict", ("weight",))
    assert value.items[0].kind == "torch" and value.items[0].array.shape == (3, 2)


def test_a_zero_dimensional_result_keeps_its_shape() -> None:
    """A 0-d tensor (a row sum of a 1-D input) or a 0-d array arrives as shape (), not (1,)."""
    value = roundtrip((torch.tensor(1.5), np.array(2.0), torch.ones(0, 3)))
    t, a, empty = value.items
    assert (t.array.shape, t.array.tolist()) == ((), 1.5)
    assert (a.array.shape, a.array.tolist()) == ((), 2.0)
    assert empty.array.shape == (0, 3)


def test_subclasses_are_flagged_and_objects_are_only_named() -> None:
    """Is a tensor subclass marked as such, and an arbitrary object reduced to its type name?"""

    class Sneaky(torch.Tensor):
        pass

    class Liar:
        def __eq__(self, other: object) -> bool:
            return True

    assert roundtrip(torch.zeros(2).as_subclass(Sneaky)).subclass
    liar = roundtrip(Liar())
    assert liar.kind == "other" and liar.array is None and "Liar" in liar.type_name


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (raw_frame("[" * 100_000 + "]" * 100_000), "nesting deep enough to overflow the parser"),
        (raw_frame("{not json"), "a header that is not JSON"),
        (raw_frame({"data": {}, "arrays": [["O", [1], 0, 8]]}, b"\0" * 8), "an object dtype"),
        (raw_frame({"data": {}, "arrays": [["f8", [2], 0, 8]]}, b"\0" * 8), "a size that lies"),
        (raw_frame({"data": {}, "arrays": [["f8", [1], 8, 8]]}, b"\0" * 8), "an array outside"),
        (struct.pack("<II", protocol.MAX_FRAME, 1), "a frame over the size cap"),
    ],
)
def test_malformed_frames_are_refused(frame: bytes, why: str) -> None:
    """Is each malformed frame a ProtocolError, never an exception the grader does not expect?"""
    with pytest.raises(ProtocolError):
        protocol.read_frame(io.BytesIO(frame).read)


def test_a_dict_whose_keys_and_values_differ_in_number_is_refused() -> None:
    """A forged dict node (two keys, one value) is a ProtocolError, not a ValueError later when
    the grader rebuilds it."""
    node = {"t": "dict", "keys": ["W_query", "W_key"], "items": [{"t": "int", "v": 1}]}
    with pytest.raises(ProtocolError, match="keys and values"):
        protocol.decode_value(node, [])
    ok = {"t": "dict", "keys": ["W_query"], "items": [{"t": "int", "v": 1}]}
    assert protocol.to_python(protocol.decode_value(ok, [])) == {"W_query": 1}


# ---- decoding is bounded by the frame ----------------------------------------------------------

MB8 = 8 * 1024 * 1024


def spec(code: str, shape: list[int], offset: int, nbytes: int) -> list[object]:
    return [code, shape, offset, nbytes]


FORGED = {  # why -> (header, body length)
    "two arrays over the same bytes, adding up to the body": (
        {"data": {}, "arrays": [spec("f8", [1], 0, 8), spec("f8", [1], 0, 8)]},
        16,
    ),
    "arrays out of order": (
        {"data": {}, "arrays": [spec("f8", [1], 8, 8), spec("f8", [1], 0, 8)]},
        16,
    ),
    "a body with bytes no array accounts for": (
        {"data": {}, "arrays": [spec("f8", [1], 0, 8)]},
        16,
    ),
    "more arrays than allowed": (
        {"data": {}, "arrays": [spec("f4", [0], 0, 0)] * (protocol.MAX_ARRAYS + 1)},
        0,
    ),
    "a rank over the cap": (
        {"data": {}, "arrays": [spec("f4", [1] * (protocol.MAX_RANK + 1), 0, 4)]},
        4,
    ),
    "an empty array whose other dimensions no frame could hold": (
        {"data": {}, "arrays": [spec("f4", [0, 2**40, 2**40], 0, 0)]},
        0,
    ),
    "an array list that is not a list": ({"data": {}, "arrays": {"not": "a list"}}, 0),
}


@pytest.mark.parametrize("why", list(FORGED))
def test_forged_array_layouts_are_refused(why: str) -> None:
    """Is each forged layout a ProtocolError, never an exception the grader does not expect?"""
    header, body = FORGED[why]
    with pytest.raises(ProtocolError):
        protocol.read_frame(io.BytesIO(raw_frame(header, b"\0" * body)).read)


def test_arrays_sharing_one_body_are_refused_before_it_is_read() -> None:
    """Is a reply whose 150 array headers all point at one 8 MB body (1.2 GB if each were
    decoded) refused from its header alone, its body never read?"""
    header = {"data": {}, "arrays": [spec("u1", [MB8], 0, MB8)] * 150}
    frame = raw_frame(header, bytes(MB8))
    stream = io.BytesIO(frame)
    with pytest.raises(ProtocolError, match="do not add up to the body"):
        protocol.read_frame(stream.read)
    assert stream.tell() == len(frame) - MB8


def test_a_reply_header_over_the_cap_is_refused_unread() -> None:
    """Is a header over MAX_HEADER refused from its length alone when reading a reply, while the
    request that carries the sources may be larger?"""
    big = {"data": {"sources": {"m": "x" * protocol.MAX_HEADER}}}
    frame = raw_frame(big)
    stream = io.BytesIO(frame)
    with pytest.raises(ProtocolError, match="header"):
        protocol.read_frame(stream.read, protocol.MAX_HEADER)
    assert stream.tell() == 8
    data, _ = protocol.read_frame(io.BytesIO(frame).read)
    assert len(data["sources"]["m"]) == protocol.MAX_HEADER


def test_pack_refuses_what_the_reader_would() -> None:
    """Does pack refuse too many arrays and too large a header (the worker then sends an error
    the student can read instead of a frame the grader refuses)?"""
    w = protocol.writer()
    value = protocol.encode_value([[np.zeros(1)] * 64] * 9, w)
    with pytest.raises(ProtocolError, match="arrays"):
        protocol.pack({"value": value}, w)
    with pytest.raises(ProtocolError, match="header"):
        protocol.pack({"output": "x" * protocol.MAX_HEADER})
    frame = protocol.pack({"sources": "x" * protocol.MAX_HEADER}, max_header=protocol.MAX_FRAME)
    assert len(frame) > protocol.MAX_HEADER


def test_decoded_arrays_hold_no_more_bytes_than_the_body() -> None:
    """Do the arrays of a packed frame come back whole, their bytes adding up to the body?"""
    w = protocol.writer()
    parts = (np.arange(6.0).reshape(2, 3), np.zeros((0, 4), np.float32), np.ones(5, np.int8))
    frame = protocol.pack({"v": [protocol.encode_value(p, w) for p in parts]}, w)
    _, arrays = protocol.read_frame(io.BytesIO(frame).read)
    assert [a.tolist() for a in arrays] == [p.tolist() for p in parts]
    header_length, body_length = struct.unpack("<II", frame[:8])
    assert sum(a.nbytes for a in arrays) == body_length == len(frame) - 8 - header_length


# ---- the grader's end of a worker's socket (wire.py) -------------------------------------------


def test_a_dribbled_reply_meets_one_deadline_for_the_whole_reply() -> None:
    """Does a reply announced by a header and then sent a byte every 50 ms (each read waiting far
    less than any timeout) end in TimeoutError at the reply's deadline, while it still dribbles?"""
    ours, theirs = socket.socketpair()
    stop, finished = threading.Event(), threading.Event()

    def dribble() -> None:
        theirs.sendall(struct.pack("<II", 4096, 0))
        for _ in range(400):  # 20 s of dribbling at most
            if stop.wait(0.05):
                return
            theirs.send(b" ")
        finished.set()

    peer = threading.Thread(target=dribble)
    peer.start()
    wire = Wire(ours)
    try:
        with pytest.raises(TimeoutError):
            wire.receive(time.monotonic() + 0.5)
        assert not finished.is_set(), "the deadline only came once the dribble had ended"
    finally:
        stop.set()
        peer.join()
        wire.close()
        theirs.close()


def test_queued_requests_never_block_and_all_reach_a_slow_reader() -> None:
    """Do 200 requests of 8 KB (far more than a socket holds) queue without blocking while the
    worker reads nothing, and then all reach it, written while the answers are awaited?"""
    ours, theirs = socket.socketpair()
    queued, answered = threading.Event(), []

    def worker() -> None:
        saw_queue = queued.wait(30)
        rfile = theirs.makefile("rb")
        for _ in range(200):
            data, arrays = protocol.read_frame(rfile.read)
            theirs.sendall(protocol.pack({"i": data["i"], "n": int(arrays[0].size)}, None))
            answered.append(saw_queue)

    peer = threading.Thread(target=worker)
    peer.start()
    wire = Wire(ours)
    try:
        for i in range(200):
            w = protocol.writer()
            wire.send(
                protocol.pack({"i": i, "x": protocol.encode_value(np.zeros(8192, "u1"), w)}, w)
            )
        queued.set()
        replies = [wire.receive(time.monotonic() + 30)[0] for _ in range(200)]
    finally:
        queued.set()
        peer.join()
        wire.close()
        theirs.close()
    assert replies == [{"i": i, "n": 8192} for i in range(200)]
    assert all(answered), "the worker gave up waiting: queueing the requests blocked"
