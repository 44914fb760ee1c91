"""The common wrong implementations of each exercise, and which one a wrong answer looks like.

Each exercise has a list of `Mistake`s: a small function computing what that wrong
implementation returns for the same inputs, and a sentence naming it in the student's terms.
After a check fails, `diagnose` runs the exercise's mistakes on the check's inputs and returns
the sentence of the first one whose output is the student's (same shape, values within
MATCH_ATOL), never one whose output equals the expected answer on those inputs.
`diagnose_error` does the same for an exception (the mistakes that raise the same error there,
when they agree on what to say),
`diagnose_parameters` for freshly seeded parameters built the wrong way.

Only called on failure, so it costs correct code nothing. The sentences hold no numbers: the
hidden suites add them to messages about inputs the student must not see.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compare import mismatch

# float32 code against a float64 mistake: a few units of float32 rounding, and no more
MATCH_ATOL = 1e-4
MATCH_RTOL = 1e-3


@dataclass(frozen=True)
class Mistake:
    """One wrong implementation of an exercise: what it computes and how to tell the student."""

    name: str
    says: str
    compute: Callable[..., Any]  # the exercise's arguments (a function) or a ModuleCall (a class)
    # what to say when the student's code raises the error this mistake raises, where another
    # mistake raises the very same error (the error alone cannot tell them apart); "": `says`
    error_says: str = ""


@dataclass(frozen=True)
class Case:
    """What a check gave an exercise: the call's arguments, and for a class its construction.

    item: which entry of a returned tuple (an index) or dict (a key) was compared.
    For a class, args are forward's input (x,), module_args/module_kwargs the constructor's,
    params its parameters by state_dict name, train/forward_seed how forward was run, seed the
    seed it was built after when its parameters are its own (not loaded).
    """

    exercise: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    item: int | str | None = None
    module_args: tuple[Any, ...] = ()
    module_kwargs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    train: bool = False
    forward_seed: int | None = None
    seed: int | None = None  # the parameters were freshly built after torch.manual_seed(seed)
    then: Callable[[np.ndarray], Any] | None = None  # what the check computed from the result
    right: Any = None  # what the module computes right from its own parameters, when known


def catalogue() -> dict[str, list[Mistake]]:
    """exercise id -> its mistakes, in the order they are tried."""
    from . import causal, multihead, numpy_attention, simple, trainable

    out: dict[str, list[Mistake]] = {}
    for topic in (simple, trainable, numpy_attention, causal, multihead):
        for exercise, mistakes in topic.MISTAKES.items():
            out.setdefault(exercise, []).extend(mistakes)
    return out


_CATALOGUE: dict[str, list[Mistake]] = {}


def mistakes_of(exercise: str) -> list[Mistake]:
    if not _CATALOGUE:
        _CATALOGUE.update(catalogue())
    return _CATALOGUE.get(exercise, [])


def outputs(case: Case) -> Iterator[tuple[Mistake, np.ndarray | BaseException]]:
    """Each mistake of the case's exercise with what it returns there (or the error it raises)."""
    for mistake, raw in _raw_outputs(case):
        result: np.ndarray | BaseException = raw if isinstance(raw, BaseException) else np.zeros(0)
        if not isinstance(raw, BaseException):
            try:
                result = np.asarray(raw if case.item is None else raw[case.item])
                if case.then is not None:
                    result = np.asarray(case.then(result))
            except Exception as e:  # no such entry: a mistake that returns something else
                result = e
        yield mistake, result


# errors no mistake of the catalogue raises: an unfinished stub, a timeout, an exit
UNDIAGNOSED = ("NotImplementedError", "SystemExit", "KeyboardInterrupt")

# Every student in a run gets the same inputs: the mistakes' outputs are computed once per case.
_OUTPUTS: OrderedDict[bytes, list[tuple[Mistake, Any]]] = OrderedDict()
CACHED_CASES = 256


def _raw_outputs(case: Case) -> list[tuple[Mistake, Any]]:
    """The mistakes' whole results (arrays, tuples of arrays, or exceptions), cached."""
    from .modules import ModuleCall

    key = _key(case)
    if key in _OUTPUTS:
        _OUTPUTS.move_to_end(key)
        return _OUTPUTS[key]
    call = ModuleCall.of(case) if case.params is not None else None
    found: list[tuple[Mistake, Any]] = []
    for mistake in mistakes_of(case.exercise):
        try:
            with _quiet():
                out = mistake.compute(call) if call else mistake.compute(*case.args, **case.kwargs)
            if isinstance(out, dict):
                result: Any = {k: _numbers(v) for k, v in out.items()}
            elif isinstance(out, (tuple, list)):
                result = tuple(map(_numbers, out))
            else:
                result = _numbers(out)
        except Exception as e:  # the mistake does not apply to these inputs (or raises there)
            result = e
        found.append((mistake, result))
    _OUTPUTS[key] = found
    if len(_OUTPUTS) > CACHED_CASES:
        _OUTPUTS.popitem(last=False)
    return found


def _key(case: Case) -> bytes:
    """A digest of everything the mistakes' outputs depend on (not item or then)."""
    h = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, dict):  # a state_dict: every entry, not its (abridged) repr
            for name, entry in sorted(value.items()):
                h.update(repr(name).encode())
                add(entry)
        elif hasattr(value, "detach") or isinstance(value, np.ndarray):
            a = _numbers(value) if hasattr(value, "detach") else value
            dtype = str(value.dtype)
            h.update(f"{dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        else:
            h.update(repr(value).encode())

    h.update(repr((case.exercise, case.module_args, sorted(case.module_kwargs.items()))).encode())
    h.update(repr((sorted(case.kwargs.items()), case.train, case.forward_seed)).encode())
    for arg in case.args:
        add(arg)
    for name, value in sorted((case.params or {}).items()):
        h.update(name.encode())
        add(value)
    return h.digest()


def _quietly(fn: Callable[..., str | None]) -> Callable[..., str | None]:
    """A diagnosis is a courtesy: should one fail, the message goes out without it."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> str | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            return None

    return run


@_quietly
def diagnose(case: Case | None, got: Any, expected: Any = None) -> str | None:
    """The sentence of the first mistake whose output on the case's inputs is `got`, or None."""
    if case is None or got is None:
        return None
    if case.seed is not None and case.params is not None:
        built = diagnose_parameters(
            case.exercise, case.module_args, case.module_kwargs, case.seed, case.params
        )
        if built:
            right = case.right is not None and _matches(np.asarray(got), np.asarray(case.right))
            return f"your computation is right, but {built}" if right else built
    got = np.asarray(got)
    want = None if expected is None else np.asarray(expected, dtype=np.float64)
    for mistake, out in outputs(case):
        if isinstance(out, BaseException):
            continue
        if want is not None and _matches(out, want):
            continue  # that mistake is invisible on these inputs: never blame it
        if _matches(got, out):
            return mistake.says
    return None


@_quietly
def diagnose_error(case: Case | None, type_name: str, message: str) -> str | None:
    """The sentence of the mistakes that raise the same error as the student's code, when they
    agree on one (each its `error_says` or `says`); None when they say different things."""
    if case is None or type_name in UNDIAGNOSED:
        return None
    wanted = (type_name, _plain(message))
    said = {
        mistake.error_says or mistake.says
        for mistake, out in outputs(case)
        if isinstance(out, BaseException) and (type(out).__name__, _plain(str(out))) == wanted
    }
    return said.pop() if len(said) == 1 else None


@_quietly
def diagnose_parameters(
    exercise: str,
    module_args: tuple[Any, ...],
    module_kwargs: Mapping[str, Any],
    seed: int,
    params: Mapping[str, Any],
) -> str | None:
    """How freshly seeded parameters were built, when they are one of the usual wrong ways."""
    from .seeded import diagnose_seeded

    return diagnose_seeded(exercise, module_args, module_kwargs, seed, params)


def named_in(exercise: str, text: str) -> tuple[str, ...]:
    """The names of the exercise's mistakes (and of the graph mistakes any exercise can make)
    whose sentence `text` holds (a failure's message)."""
    from . import graph

    return tuple(
        m.name
        for m in [*mistakes_of(exercise), *graph.MISTAKES]
        if m.says in text or (m.error_says and m.error_says in text)
    )


def hint_for(exercise: Any, test: str, text: str) -> str | None:
    """The hint for a failure of `exercise` (a manifest entry) in `test` saying `text`: the
    autograd hint when a graph mistake was named, else the manifest's (Exercise.hint_for)."""
    from . import graph

    names = named_in(exercise.id, text)
    if set(names) & {m.name for m in graph.MISTAKES}:
        return graph.HINT
    return exercise.hint_for(test, names)


def diagnose_names(missing: list[str], extra: list[str]) -> str | None:
    """What parameter names that differ from the expected ones usually mean."""
    if extra and not missing and all(k.endswith(".bias") for k in extra):
        return (
            "your nn.Linear layers have biases although qkv_bias=False (nn.Linear has one by "
            "default): pass bias=qkv_bias"
        )
    if missing and not extra and all(k.endswith(".bias") for k in missing):
        return "your layers have no biases although qkv_bias=True: pass bias=qkv_bias"
    return None


def _matches(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    return mismatch(a, b, atol=MATCH_ATOL, rtol=MATCH_RTOL) is None


def _numbers(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value
        return value.numpy()
    return np.asarray(value)


_POSITION = re.compile(r"\s*at non-singleton dimension \d+|^\w+(Error|Exception): ")


def _plain(message: str) -> str:
    """An error message without the exception's name and the dimension it mentions."""
    lines = message.strip().splitlines()
    return _POSITION.sub("", lines[-1] if lines else "").strip()


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep the random generator as it was, and numpy from warning about overflow."""
    import torch

    state = torch.get_rng_state()
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        torch.set_rng_state(state)
