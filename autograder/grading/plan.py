"""The plan of one submission seed: the request frames the hidden suites send to a submission
that answers everything right, recorded by grading the reference solutions in the grader's own
process (they are the kit's code, not a student's). A worker is sent its plan at once and
answers it back to back, so a submission costs one round trip rather than a hundred.

The self-test (grader.py) still grades the reference in a real sandbox, once per lane; the plan
of each submission seed is only recorded here. While it is recorded, the reference's functions
remember their results by the exact bytes of their inputs (`Remembered`): the checks' expected
values, the answers recorded in the plan and the grading of the submission with that seed then
share one computation each, bit for bit the one a fresh call would give.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import inspect
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from learner import manifest

from .. import ROOT
from . import protocol, suite
from .isolate import RecordingChannel
from .model import Submission
from .student import Student
from .worker import Missing, Session

KEPT = 4  # plans kept, most recent first: a lane's regrades of the same bytes reuse theirs


class Unkeyed(Exception):
    """An argument that has no exact key (an object, a module): the call is made afresh."""


def key_of(x: Any) -> Any:
    """A hashable key equal for two arguments exactly when their kinds, dtypes, shapes and bytes
    are: -0.0 and 0.0, or float32 and float64 of the same value, are different keys."""
    if isinstance(x, torch.Tensor):
        if x.layout != torch.strided or x.device.type != "cpu" or x.is_complex():
            raise Unkeyed
        if x.requires_grad:  # a backward through the result needs the call's own graph
            raise Unkeyed
        t = x.detach().contiguous()
        return (
            "tensor",
            str(t.dtype),
            tuple(t.shape),
            t.requires_grad,
            t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"",
        )
    if isinstance(x, np.ndarray):
        if x.dtype.hasobject:
            raise Unkeyed
        return ("array", x.dtype.str, x.shape, np.ascontiguousarray(x).tobytes())
    if x is None or type(x) in (bool, int, float, str, bytes):
        return (type(x).__name__, repr(x))
    if type(x) in (tuple, list):
        return (type(x).__name__, tuple(key_of(i) for i in x))
    if type(x) is dict:
        return ("dict", tuple((key_of(k), key_of(v)) for k, v in x.items()))
    if isinstance(x, torch.dtype):
        return ("dtype", str(x))
    raise Unkeyed


def _copy(x: Any) -> Any:
    """A remembered result handed out again: tensors and arrays as new copies of their own."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if type(x) in (tuple, list):
        return type(x)(_copy(i) for i in x)
    return x


class Remembered:
    """The reference, its functions remembering each result by the exact key of its inputs.

    Classes (the nn.Modules) are handed out as they are: their instances hold state."""

    def __init__(self, ref: suite.Reference) -> None:
        self._ref = ref
        self._wrapped: dict[str, Callable[..., Any]] = {}
        self.results: dict[Any, Any] = {}
        self.hits = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._wrapped:
            return self._wrapped[name]
        obj = getattr(self._ref, name)
        if inspect.isclass(obj) or not callable(obj):
            return obj

        @functools.wraps(obj)
        def remembered(*args: Any, **kwargs: Any) -> Any:
            try:
                key = (name, key_of(args), key_of(kwargs))
            except Unkeyed:
                return obj(*args, **kwargs)
            if key in self.results:
                self.hits += 1
            else:
                self.results[key] = obj(*args, **kwargs)
            return _copy(self.results[key])

        self._wrapped[name] = remembered
        return remembered


REPLIES_KEPT = 32  # seeded module requests answered, shared by every seed's plan


class ReferenceChannel:
    """Answers request frames with the reference solutions, in this process, as a worker would
    (the same Session code), without the off-limits watch the reference never needs.

    A module request that seeds its build (and its forward, in train mode) is answered the same
    whenever its frame is: its reply is kept in `replies` (shared by the plans of every seed), so
    a check whose request is the same for every student (a GPT-2-size module) is answered once.
    """

    def __init__(
        self,
        ref: suite.Reference | Remembered,
        replies: collections.OrderedDict[bytes, bytes] | None = None,
    ) -> None:
        def resolve(module: str, name: str) -> Any:
            try:
                return getattr(ref, name)
            except AttributeError:
                raise Missing(f"the reference has no {name}") from None

        self.session = Session(resolve)
        self.replies = replies if replies is not None else collections.OrderedDict()

    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        data, arrays = protocol.read_frame(_reader(frame))
        data["offlimits"] = []
        if not _repeatable(data):
            return protocol.read_frame(_reader(self.session.handle(data, arrays)))
        key = hashlib.sha256(frame).digest()
        if key in self.replies:
            self.replies.move_to_end(key)
        else:
            self.replies[key] = self.session.handle(data, arrays)
            while len(self.replies) > REPLIES_KEPT:
                self.replies.popitem(last=False)
        return protocol.read_frame(_reader(self.replies[key]))


def _repeatable(data: dict[str, Any]) -> bool:
    """A module request whose reply depends on its frame alone: a seeded build, and a seeded
    forward if it runs in train mode (dropout)."""
    seeded = data.get("seed") is not None
    forward = not data.get("train") or data.get("forward_seed") is not None
    return data.get("op") == "module" and seeded and forward


def _reader(frame: bytes) -> Any:
    stream = io.BytesIO(frame)

    def read_exact(n: int) -> bytes:
        data = stream.read(n)
        if len(data) < n:
            raise EOFError
        return data

    return read_exact


class Plans:
    """Plans by seed, recorded on demand, each with the reference results it computed (graded
    with that seed, a submission's checks reuse them); the last KEPT are kept."""

    def __init__(self, checks: list[suite.Check], ref: suite.Reference, student_args: Any) -> None:
        self.checks, self.ref = checks, ref
        self.locate, self.offlimits, self.timeout = student_args
        self.kept: collections.OrderedDict[int, tuple[list[bytes], Remembered]] = (
            collections.OrderedDict()
        )
        self.reference = Submission(
            "reference", ROOT / "solutions", dict.fromkeys(manifest.modules(), "")
        )
        self.replies: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()

    def put(self, seed: int, frames: list[bytes], ref: Remembered | None = None) -> None:
        self.kept[seed] = (frames, ref or Remembered(self.ref))
        self.kept.move_to_end(seed)
        while len(self.kept) > KEPT:
            self.kept.popitem(last=False)

    def get(self, seed: int) -> tuple[list[bytes], Remembered]:
        """The plan of `seed`, and the reference remembering what it computed for it."""
        if seed not in self.kept:
            ref = Remembered(self.ref)
            reference = ReferenceChannel(ref, self.replies)
            channel = RecordingChannel(reference)  # type: ignore[arg-type]
            student = Student(channel, self.locate, self.offlimits, timeout=self.timeout)
            suite.run_submission(self.reference, student, self.checks, ref, seed)  # type: ignore[arg-type]
            self.put(seed, channel.frames, ref)
        self.kept.move_to_end(seed)
        return self.kept[seed]
