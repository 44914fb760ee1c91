"""The grader's handle on one submission: every call runs the student's code elsewhere.

`Student.call` and `Student.module` send inputs to a worker (a sandboxed process, or the same
process for the kit's own fast tests) and get back plain data: `Value`s and numpy arrays.
Failures come back as `StudentError`, never as the student's own objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import protocol
from .protocol import Value

CALL_TIMEOUT = 10.0  # seconds of wall clock for one call into student code
# Seconds of wall clock for a whole submission. A correct one takes well under a second; the
# worker's CPU limit is 60 s, so twice that leaves room for a slow machine and for a few calls
# that each run into the timeout, while a class that stalls in every call still ends.
BUDGET = 120.0
KEPT = 16  # replies kept for reuse per submission


class StudentError(Exception):
    """The student's code did not return: it raised, hung, died, or used an off-limits call.

    kind: "exception", "timeout", "crash", "offlimits", "missing", "protocol", or "budget" (the
    submission's time is spent: the call was stopped, or not made).
    """

    def __init__(self, kind: str, message: str, type_name: str = "", traceback: str = "") -> None:
        super().__init__(message)
        self.kind, self.message, self.type_name, self.traceback = (
            kind,
            message,
            type_name,
            traceback,
        )


@dataclass
class Gradients:
    """What a backward through the student's code gave: the gradient of each input asked for
    (None: none reached it), of each parameter, and what in the call cut the graph."""

    inputs: list[np.ndarray | None]
    parameters: dict[str, np.ndarray | None] = field(default_factory=dict)
    symptoms: list[str] = field(default_factory=list)  # what cut the graph (backprop)
    problem: str = ""  # why no backward could run ("" when it ran)


@dataclass
class ModuleRun:
    """What a student's nn.Module did: outputs per input, and its parameters and buffers."""

    outputs: list[Value]
    parameters: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]
    submodules: dict[str, str]  # dotted name -> class name ("heads" -> "ModuleList")
    missing: list[str] = field(default_factory=list)  # state keys the module lacked
    unexpected: list[str] = field(default_factory=list)  # state keys it did not know
    state_keys: list[str] = field(default_factory=list)  # its state_dict's names
    # with shapes: name -> shape of each parameter and buffer (which then come without values)
    parameter_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    buffer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    changed: list[int] = field(default_factory=list)  # the inputs forward changed, by position
    grads: Gradients | None = None  # when run with backward
    forward_error: StudentError | None = None  # with reuse: what forward raised (no outputs)
    twin: ModuleRun | None = None  # with like: the other class, given this module's state
    load_error: StudentError | None = None  # a twin's: why it could not load that state

    @property
    def output(self) -> Value:
        return self.outputs[0]


class Channel(Protocol):
    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send one framed request; return the decoded reply (or raise StudentError)."""
        ...


class Student:
    """Calls into one submission through a channel; `locate(exercise) -> (module, name)`."""

    def __init__(
        self,
        channel: Channel,
        locate: Callable[[str], tuple[str, str]],
        offlimits: Callable[[str], tuple[str, ...]] = lambda _: (),
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.channel = channel
        self.locate = locate
        self.offlimits = offlimits
        self.timeout = timeout
        self.output: list[str] = []  # what the student's code printed, per call
        self.changed: list[int] = []  # the arguments the last call changed, by position
        self.kept: dict[bytes, tuple[dict[str, Any], list[np.ndarray]]] = {}  # reuse's replies

    def call(self, exercise: str, *args: Any, **kwargs: Any) -> Value:
        """Call the exercise's function with `args`; its return value as plain data (and in
        `self.changed` the positions of the arguments the call changed)."""
        data, arrays = self._send("call", exercise, args, kwargs, {})
        self.changed = _ints(data.get("changed"))
        return _decode(data.get("value"), arrays)

    def gradients(
        self,
        exercise: str,
        args: tuple[Any, ...],
        positions: tuple[int, ...],
        weights: list[Any],
    ) -> tuple[Value, Gradients]:
        """Call the exercise's function (in `self.changed`: the arguments the call changed);
        when it changed none, call it again with the arguments at `positions` requiring a
        gradient and backpropagate sum_i (output_i * weights[i]).sum()."""
        w = protocol.writer()
        grad = {"args": list(positions), "weights": [protocol.encode_arg(x, w) for x in weights]}
        data, arrays = self._send("call", exercise, args, {}, {"grad": grad}, w)
        self.changed = _ints(data.get("changed"))  # when it did, no gradient was asked for
        return _decode(data.get("value"), arrays), _gradients(data, arrays, "grads")

    def module(
        self,
        exercise: str,
        *args: Any,
        inputs: tuple[Any, ...] = (),
        seed: int | None = None,
        state: Mapping[str, Any] | None = None,
        train: bool = False,
        forward_seed: int | None = None,
        backward: list[Any] | None = None,
        float64: bool = False,
        rule_of: str | None = None,
        shapes: bool = False,
        like: tuple[str, tuple[Any, ...]] | None = None,
        reuse: bool = False,
        **kwargs: Any,
    ) -> ModuleRun:
        """Build the exercise's class with `args` (after torch.manual_seed(seed) when given),
        load `state` (parameters only), convert it with .to(torch.float64) if `float64`, switch
        to train or eval mode, then run forward on each input (after
        torch.manual_seed(forward_seed) when given); with `backward` (one weight per input), the
        inputs require a gradient and sum_i (output_i * backward[i]).sum() is backpropagated.
        `rule_of`: the exercise whose off-limits rule the call is judged by (default: this one),
        when a check of one exercise builds another's class to compare with. `shapes`: each
        parameter and buffer comes back as its shape only (a module of millions of parameters,
        compared by its structure). `like` = (name, args): the class `name` of the same module
        is built with `args` after the same seed, loads this module's state_dict (strict) and
        runs the same way; its run is `twin` (is this module that class built with those
        arguments, whatever its weights?). `reuse`: a seeded build that several checks
        compare: the reply is kept for this submission and answers the same request again, and
        an exception in forward comes back in `forward_error` (no outputs), so a check that
        reads only the structure still stands."""
        w = protocol.writer()
        extra = {
            "seed": seed,
            "train": bool(train),
            "forward_seed": forward_seed,
            "inputs": [protocol.encode_arg(x, w) for x in inputs],
            "state": protocol.encode_arg(dict(state), w) if state is not None else None,
        }
        if float64:
            extra["dtype"] = "float64"
        if backward is not None:
            extra["backward"] = [protocol.encode_arg(x, w) for x in backward]
        if shapes:
            extra["shapes"] = True
        if like is not None:
            name, like_args = like
            extra["like"] = {"name": name, "args": [protocol.encode_arg(a, w) for a in like_args]}
        if reuse:
            extra["reuse"] = True
        data, arrays = self._send("module", exercise, args, kwargs, extra, w, rule_of)
        run = _module_run(data, arrays, backward is not None, reuse)
        if like is not None:
            run.twin = _module_run(_dict(data.get("twin")), arrays, backward is not None, reuse)
        return run

    def _send(
        self,
        op: str,
        exercise: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        extra: dict[str, Any],
        w: Any = None,
        rule_of: str | None = None,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        w = w or protocol.writer()
        module, name = self.locate(exercise)
        request = {
            "op": op,
            "module": module,
            "name": name,
            "offlimits": list(self.offlimits(rule_of or exercise)),
            "args": [protocol.encode_arg(a, w) for a in args],
            "kwargs": {k: protocol.encode_arg(v, w) for k, v in kwargs.items()},
            **extra,
        }
        frame = protocol.pack(request, w)
        kept = self.kept.get(frame) if extra.get("reuse") else None
        if kept is not None:  # answered already, for this submission: the same reply again
            data, arrays = kept
            return dict(data), [a.copy() for a in arrays]
        try:
            data, arrays = self.channel.request(frame, self.timeout)
        except StudentError as e:
            if e.kind != "crash":
                raise
            # Once more on a fresh worker: a worker killed from outside (the OOM killer, an
            # operator) costs nothing; code that crashes the worker crashes it again.
            data, arrays = self.channel.request(frame, self.timeout)
        printed = data.get("output")
        if isinstance(printed, str) and printed:
            self.output.append(printed[:4200])
        if request["offlimits"]:
            _judge(data, request["offlimits"])
        error = data.get("error")
        if error is not None:
            raise _error(error)
        if extra.get("reuse") and len(self.kept) < KEPT:
            self.kept[frame] = (dict(data), [a.copy() for a in arrays])
        return data, arrays


def _judge(data: dict[str, Any], groups: list[str]) -> None:
    """StudentError("offlimits") when the channel's record of the call (set by the channel,
    never by the worker: see isolate.py) shows a kernel of `groups`, or cannot be trusted."""
    from learner import kernelwatch

    if data.get("broken"):
        raise StudentError("offlimits", str(data["broken"])[:2000])
    called = [
        kernelwatch.NAMES[op]
        for op in data.get("evidence") or []
        if op in kernelwatch.OPS and set(groups) & set(kernelwatch.OPS[op])
    ]
    if called:
        raise StudentError("offlimits", "off-limits call: " + ", ".join(called[:5]))


def budget_ran_out(budget: float) -> str:
    """What the call that was running when the submission's time ran out scores 0 for."""
    return (
        f"stopped: your code was still running when the {budget:g} s allowed for grading your "
        "whole submission ran out, so this check and every one after it scores 0. " + _SPEED_HINT
    )


def budget_spent(budget: float) -> str:
    """What every check after the submission's time ran out scores 0 for."""
    return (
        f"not graded: the {budget:g} s allowed for grading your whole submission had run out "
        "before this check. " + _SPEED_HINT
    )


# the line in the submission's problems when its time ran out
BUDGET_PROBLEM = (
    "grading stopped when the time allowed for the whole submission ran out: the checks not "
    "run in time score 0"
)
_SPEED_HINT = (
    "Look for sleeps, waits or very slow loops in your code: each exercise should take "
    "well under a second."
)


def _module_run(
    data: dict[str, Any], arrays: list[np.ndarray], backward: bool, reuse: bool
) -> ModuleRun:
    failed = data.get("forward_error") if reuse else None
    unloaded = data.get("load_error")
    return ModuleRun(
        outputs=[_decode(v, arrays) for v in _list(data.get("outputs"))],
        parameters=_arrays(data.get("parameters"), arrays),
        buffers=_arrays(data.get("buffers"), arrays),
        submodules={str(k)[:200]: str(v)[:120] for k, v in _dict(data.get("submodules")).items()},
        missing=[str(k)[:200] for k in _list(data.get("missing"))],
        unexpected=[str(k)[:200] for k in _list(data.get("unexpected"))],
        state_keys=[str(k)[:200] for k in _list(data.get("state_keys"))],
        changed=_ints(data.get("changed")),
        grads=_gradients(data, arrays, "input_grads") if backward else None,
        parameter_shapes=_shapes(data.get("parameters_shapes")),
        buffer_shapes=_shapes(data.get("buffers_shapes")),
        forward_error=_error(failed) if isinstance(failed, dict) else None,
        load_error=_error(unloaded) if isinstance(unloaded, dict) else None,
    )


def _error(error: Any) -> StudentError:
    if not isinstance(error, dict):
        return StudentError("protocol", "the worker sent a malformed error")
    kind = error.get("kind")
    if kind not in ("exception", "offlimits", "missing"):
        kind = "protocol"
    return StudentError(
        kind,
        str(error.get("message", ""))[:2000],
        str(error.get("type", ""))[:100],
        str(error.get("traceback", ""))[:4000],
    )


def _decode(node: Any, arrays: list[np.ndarray]) -> Value:
    try:
        return protocol.decode_value(node, arrays)
    except protocol.ProtocolError as e:
        raise StudentError("protocol", f"unreadable result: {e}") from None


def _list(x: Any) -> list[Any]:
    return x[: protocol.MAX_ITEMS * 4] if isinstance(x, list) else []


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _arrays(node: Any, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """name -> array from an encoded dict of tensors; anything that is not an array is dropped."""
    if node is None:
        return {}
    value = _decode(node, arrays)
    return {k: v.array for k, v in zip(value.keys, value.items, strict=True) if v.array is not None}


def _shapes(node: Any) -> dict[str, tuple[int, ...]]:
    """name -> shape from a reply's {name: [dims]} (entries that are not that are dropped)."""
    return {
        str(k)[:200]: tuple(int(n) for n in v[:8])
        for k, v in list(_dict(node).items())[:48]
        if isinstance(v, list) and all(type(n) is int and 0 <= n < 2**40 for n in v)
    }


def _gradients(data: dict[str, Any], arrays: list[np.ndarray], inputs: str) -> Gradients:
    """What a reply says a backward gave: the gradients under `inputs`, the parameters' (a
    class's), what cut the graph, why no backward ran."""
    return Gradients(
        inputs=[_decode(v, arrays).array for v in _list(data.get(inputs))],
        parameters={k: v.array for k, v in _values(data.get("parameter_grads"), arrays).items()},
        symptoms=[str(s)[:20] for s in _list(data.get("symptoms"))],
        problem=str(data.get("problem") or "")[:300],
    )


def _values(node: Any, arrays: list[np.ndarray]) -> dict[str, Value]:
    """name -> value from an encoded dict (None entries kept)."""
    if node is None:
        return {}
    value = _decode(node, arrays)
    return dict(zip(value.keys, value.items, strict=True))


def _ints(x: Any) -> list[int]:
    return [int(i) for i in _list(x) if type(i) is int]
