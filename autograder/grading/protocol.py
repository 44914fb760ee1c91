"""The wire format between the grader and a sandboxed worker: plain numbers only.

A frame is `<header length, body length>` (two little-endian uint32), a JSON header and a body of
raw array bytes. The header holds a value tree; arrays in it point into the body by index, with a
dtype from a short whitelist. Nothing is ever unpickled, and a malformed frame is a ProtocolError.

Decoding is bounded by the frame's size, whoever wrote it: the body is exactly its arrays, laid
end to end in order (none overlaps another or is read twice), so the arrays decoded never hold
more bytes than the frame; there are at most MAX_ARRAYS of at most MAX_RANK dimensions, and a
reply's JSON header is at most MAX_HEADER bytes.
"""

from __future__ import annotations

import json
import math
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_FRAME = 64 * 1024 * 1024
# A reply's header: printed output, messages and names, each cut short in the worker. Only the
# grader's first request (the student's sources) may be larger. Its JSON costs some 60 bytes of
# memory per byte at worst (an empty list per 3 bytes), so this cap bounds the parse too.
MAX_HEADER = 1024 * 1024
MAX_ITEMS = 64  # entries of a returned tuple, list or dict
MAX_ARRAYS = 512  # arrays in one frame (a module's reply: its outputs, parameters and buffers)
MAX_RANK = 8  # dimensions of one array
DTYPES = {  # wire dtype -> numpy dtype; anything else is refused
    "f4": np.float32,
    "f8": np.float64,
    "f2": np.float16,
    "i1": np.int8,
    "i2": np.int16,
    "i4": np.int32,
    "i8": np.int64,
    "u1": np.uint8,
    "b1": np.bool_,
}
_HEAD = struct.Struct("<II")


class ProtocolError(Exception):
    """A frame that is not what the protocol allows."""


@dataclass(frozen=True)
class Value:
    """What a student's function returned, as plain data.

    kind: "torch", "numpy" (array holds the values), "tuple", "list", "dict" (items), "int",
    "float", "bool" (scalar), "none", or "other" (type_name says what it was).
    """

    kind: str
    array: np.ndarray | None = None
    dtype: str = ""
    items: tuple[Value, ...] = ()
    keys: tuple[str, ...] = ()
    scalar: float | int | bool | None = None
    type_name: str = ""
    subclass: bool = False  # a torch.Tensor or ndarray subclass, not the plain type

    def describe(self) -> str:
        if self.array is not None:
            dims = ", ".join(str(s) for s in self.array.shape)
            name = "torch.Tensor" if self.kind == "torch" else "numpy.ndarray"
            return f"{name} {self.dtype} [{dims}]"
        if self.kind in ("tuple", "list"):
            return f"{self.kind} of {len(self.items)}"
        return self.type_name or self.kind


# ---- encoding (both sides) -------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.arrays: list[list[Any]] = []
        self.chunks: list[bytes] = []
        self.size = 0

    def array(self, a: np.ndarray) -> int:
        a = np.ascontiguousarray(a).reshape(np.shape(a))  # a 0-d array stays 0-d
        code = a.dtype.newbyteorder("<").str[1:] if a.dtype.kind != "b" else "b1"
        if code not in DTYPES:
            a, code = a.astype(np.float64), "f8"
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        self.arrays.append([code, list(a.shape), self.size, len(raw)])
        self.chunks.append(raw)
        self.size += len(raw)
        return len(self.arrays) - 1


def encode_value(obj: Any, w: _Writer, depth: int = 0) -> dict[str, Any]:
    """A value tree node for `obj` (called in the worker on whatever the student returned)."""
    torch = _torch()
    if torch is not None and isinstance(obj, torch.Tensor):
        t = torch.Tensor.detach(obj).cpu()
        dtype = str(t.dtype).replace("torch.", "")
        if not (t.dtype.is_floating_point or t.dtype in (torch.bool, torch.int64, torch.int32)):
            return {"t": "other", "type": f"torch.Tensor {dtype}"}
        if t.dtype in (torch.bfloat16,):
            t = t.float()
        arr = torch.Tensor.numpy(torch.Tensor.contiguous(t)).copy()
        return {
            "t": "torch",
            "a": w.array(arr),
            "dtype": dtype,
            "sub": type(obj) is not torch.Tensor,
        }
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        return {
            "t": "numpy",
            "a": w.array(np.array(obj)),
            "dtype": str(obj.dtype),
            "sub": type(obj) is not np.ndarray,
        }
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return {"t": "numpy", "a": w.array(np.array(obj)), "dtype": str(obj.dtype), "sub": False}
    if obj is None:
        return {"t": "none"}
    if type(obj) is bool:
        return {"t": "bool", "v": obj}
    if type(obj) is int:
        return {"t": "int", "v": obj} if abs(obj) < 2**53 else {"t": "other", "type": "int"}
    if type(obj) is float:
        return {"t": "float", "v": obj}
    if type(obj) in (tuple, list) and depth < 3:
        items = [encode_value(x, w, depth + 1) for x in list(obj)[:MAX_ITEMS]]
        return {"t": type(obj).__name__, "items": items}
    if type(obj) in (dict, OrderedDict) and depth < 3:  # a state_dict() is an OrderedDict
        keys = [k for k in obj if type(k) is str][:MAX_ITEMS]
        return {
            "t": "dict",
            "keys": keys,
            "items": [encode_value(obj[k], w, depth + 1) for k in keys],
        }
    return {"t": "other", "type": _type_name(obj)}


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"[:120] if t.__module__ != "builtins" else t.__name__


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")


def pack(data: dict[str, Any], w: _Writer | None = None, max_header: int = MAX_HEADER) -> bytes:
    """Frame a JSON-able dict (whose arrays were registered with `w`); a ProtocolError for what
    the reader would refuse (`max_header`: MAX_FRAME for the request carrying the sources)."""
    w = w or _Writer()
    if len(w.arrays) > MAX_ARRAYS:
        raise ProtocolError(f"{len(w.arrays)} arrays in one message, over {MAX_ARRAYS}")
    header = json.dumps({"data": data, "arrays": w.arrays}, allow_nan=True).encode()
    if len(header) > max_header:
        raise ProtocolError(f"message header of {len(header)} bytes is over {max_header}")
    if len(header) + w.size > MAX_FRAME:
        raise ProtocolError(f"message of {len(header) + w.size} bytes is over {MAX_FRAME}")
    return _HEAD.pack(len(header), w.size) + header + b"".join(w.chunks)


def writer() -> _Writer:
    return _Writer()


# ---- decoding (the grader trusts nothing here) -----------------------------------------------


def read_frame(
    read_exact: Any, max_header: int = MAX_FRAME
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Read one frame with `read_exact(n) -> bytes`; return its data and arrays, validated.

    `max_header`: the grader reads replies with MAX_HEADER; the worker's first request carries
    the sources in its header."""
    hlen, blen = _HEAD.unpack(read_exact(_HEAD.size))
    if hlen + blen > MAX_FRAME:
        raise ProtocolError(f"frame of {hlen + blen} bytes is over {MAX_FRAME}")
    if hlen > max_header:
        raise ProtocolError(f"header of {hlen} bytes is over {max_header}")
    try:
        header = json.loads(read_exact(hlen))
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, or nesting meant to overflow
        raise ProtocolError(f"header is not JSON: {type(e).__name__}") from None
    if not isinstance(header, dict) or not isinstance(header.get("data"), dict):
        raise ProtocolError("header lacks a data object")
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ProtocolError(f"the array list is not a list of at most {MAX_ARRAYS}")
    layout = [_array_spec(spec) for spec in specs]
    if sum(nbytes for _, _, _, nbytes in layout) != blen:  # checked before the body is read
        raise ProtocolError("the arrays do not add up to the body")
    body = read_exact(blen)
    arrays, end = [], 0
    for dtype, shape, offset, nbytes in layout:
        if offset != end:  # end to end, in order: no array overlaps or repeats another
            raise ProtocolError("arrays overlap or leave a gap in the body")
        end += nbytes
        flat = np.frombuffer(memoryview(body)[offset:end], dtype=dtype)
        arrays.append(flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True))
    return header["data"], arrays


def _array_spec(spec: Any) -> tuple[np.dtype, list[int], int, int]:
    """(dtype, shape, offset, nbytes) of one array's header entry, each checked."""
    if not (isinstance(spec, list) and len(spec) == 4):
        raise ProtocolError("bad array spec")
    code, shape, offset, nbytes = spec
    if not isinstance(code, str) or code not in DTYPES:
        raise ProtocolError(f"array dtype {str(code)[:20]!r} is not allowed")
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise ProtocolError(f"array shape is not a list of at most {MAX_RANK} dimensions")
    if not all(type(s) is int and 0 <= s <= MAX_FRAME for s in shape) or type(offset) is not int:
        raise ProtocolError("bad array shape")
    if math.prod(max(s, 1) for s in shape) > MAX_FRAME:  # an empty array's other dimensions
        raise ProtocolError("array shape is larger than any frame")
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    if type(nbytes) is not int or nbytes != math.prod(shape) * dtype.itemsize:
        raise ProtocolError("array size does not match its shape")
    return dtype, shape, offset, nbytes


def decode_value(node: Any, arrays: list[np.ndarray], depth: int = 0) -> Value:
    """A Value from a node of a value tree (strictly validated)."""
    if not isinstance(node, dict) or depth > 4:
        raise ProtocolError("bad value node")
    kind = node.get("t")
    if kind in ("torch", "numpy"):
        idx = node.get("a")
        if type(idx) is not int or not 0 <= idx < len(arrays):
            raise ProtocolError("value points at no array")
        return Value(
            kind,
            array=arrays[idx],
            dtype=str(node.get("dtype", ""))[:40],
            subclass=node.get("sub") is True,
        )
    if kind in ("tuple", "list", "dict"):
        items = node.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("bad sequence")
        keys = node.get("keys", []) if kind == "dict" else []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ProtocolError("bad dict keys")
        if kind == "dict" and len(keys) != len(items):
            raise ProtocolError("a dict's keys and values differ in number")
        return Value(
            kind,
            items=tuple(decode_value(x, arrays, depth + 1) for x in items),
            keys=tuple(k[:200] for k in keys),
            type_name=kind,
        )
    if kind in ("int", "float", "bool"):
        v = node.get("v")
        ok = {"int": type(v) is int, "float": type(v) in (float, int), "bool": type(v) is bool}
        if not ok[kind]:
            raise ProtocolError(f"bad {kind}")
        return Value(kind, scalar=v, type_name=kind)
    if kind == "none":
        return Value("none", type_name="None")
    if kind == "other":
        return Value("other", type_name=str(node.get("type", "?"))[:120])
    raise ProtocolError(f"unknown value kind {kind!r}")


def encode_arg(obj: Any, w: _Writer) -> dict[str, Any]:
    """Grader side: an input for the worker (torch tensors stay torch, arrays stay numpy)."""
    return encode_value(obj, w)


def rebuild(node: Any, arrays: list[np.ndarray]) -> Any:
    """Worker side: the Python object for an input node (torch tensors are rebuilt as torch)."""
    value = decode_value(node, arrays)
    return to_python(value)


def to_python(value: Value) -> Any:
    if value.kind == "torch":
        import torch

        return torch.from_numpy(np.array(value.array))
    if value.kind == "numpy":
        return np.array(value.array)
    if value.kind in ("tuple", "list"):
        seq = [to_python(v) for v in value.items]
        return tuple(seq) if value.kind == "tuple" else seq
    if value.kind == "dict":
        return {k: to_python(v) for k, v in zip(value.keys, value.items, strict=True)}
    return value.scalar
