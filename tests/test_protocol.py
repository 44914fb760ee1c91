"""The wire format: what a worker may send back is plain numbers, and anything else is refused."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import torch

from autograder.grading import protocol
from autograder.grading.protocol import ProtocolError


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
