"""Assertions whose failure message a student can act on.

Each says what was checked, on which input, what was expected (and where that value comes from),
what came back (type, dtype, shape, values) and the first entry that differs. Torch tensors are
turned into numpy arrays here and compared by learner.compare.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .. import compare, evasion, manifest, mistakes, offlimits
from ..mistakes import Case

FIXTURES = Path(__file__).resolve().parent / "fixtures"

EXACT = 0.0  # masked weights and exact selections: not a rounding error away
SUM_ATOL = compare.FLOAT32_ATOL  # a row of float32 weights sums to 1 within this


@dataclass(frozen=True)
class Given:
    """A value from a fixture file and where it comes from (book section or notebook, seed)."""

    value: Any
    source: str


@cache
def fixture(name: str) -> dict[str, Given]:
    """The values of fixtures/<name>.json, by key."""
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return {key: Given(entry["value"], entry["source"]) for key, entry in data["values"].items()}


def _show(value: Any) -> str:
    """A short rendering of an input or output for a message."""
    array = _numbers(value)
    if array is None:
        return compare.describe_type(value)
    return compare.fmt(array, limit=200)


def _numbers(value: Any) -> np.ndarray | None:
    """`value` as a numpy array of numbers, or None when it is not a tensor, array or number."""
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.resolve_conj().resolve_neg().numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(value)
    if isinstance(value, (list, tuple)) and value:
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    return None


def _torch() -> Any:
    return sys.modules.get("torch")


def as_numbers(got: Any, *, kind: str, what: str, inputs: str = "") -> np.ndarray:
    """`got` as a numpy array, if it has the kind asked for ("torch", "numpy" or "number")."""
    torch = _torch()
    is_tensor = torch is not None and isinstance(got, torch.Tensor)
    ok = {
        "torch": is_tensor,
        "numpy": isinstance(got, np.ndarray),
        "number": isinstance(got, (int, float, np.floating, np.integer))
        or (is_tensor and got.ndim == 0),
    }[kind]
    if not ok:
        wanted = {"torch": "a torch.Tensor", "numpy": "a numpy.ndarray", "number": "a number"}[kind]
        raise AssertionError(
            _message(what, inputs, [f"expected {wanted}, got {compare.describe_type(got)}"])
        )
    array = _numbers(got)
    assert array is not None
    return array


def expect_close(
    got: Any,
    expected: Any,
    *,
    what: str,
    atol: float,
    rtol: float = 0.0,
    inputs: str = "",
    source: str = "",
    kind: str = "torch",
    case: Case | None = None,
) -> None:
    """Fail unless `got` is a `kind` value with the shape and values of `expected` (within atol).

    `case` (the exercise and what it was given): a failure that is a known mistake's output
    says which mistake it looks like. A dict (a state_dict) is expected with the same keys, each
    entry compared alike.
    """
    if isinstance(expected, Mapping):
        expect_keys(got, list(expected), what=what, inputs=inputs)
        for key, want in expected.items():
            one = replace(case, item=key) if case else None
            expect_close(
                got[key],
                want,
                what=f"{what}[{key!r}]",
                atol=atol,
                rtol=rtol,
                inputs=inputs,
                source=source,
                kind=kind,
                case=one,
            )
        return
    array = as_numbers(got, kind=kind, what=what, inputs=inputs)
    wanted = np.asarray(expected)
    if wanted.dtype != np.bool_:  # a mask is expected (and shown) as True/False
        wanted = wanted.astype(np.float64)
    problem = compare.mismatch(array, wanted, atol=atol, rtol=rtol)
    if problem:
        where = f"   ({source})" if source else ""
        diagnosis = mistakes.diagnose(case, array, wanted)
        raise AssertionError(
            _message(
                what,
                inputs,
                [
                    f"expected: {compare.fmt(wanted, limit=200)}{where}",
                    f"got:      {compare.describe_type(got)} {compare.fmt(array, limit=200)}",
                    problem,
                    *([f"{LOOKS_LIKE}{diagnosis}"] if diagnosis else []),
                ],
            )
        )


def expect_keys(got: Any, keys: list[str], *, what: str, inputs: str = "") -> None:
    """`got` is a dict with exactly `keys` (in any order): which are missing, which are extra."""
    if not isinstance(got, Mapping):
        raise AssertionError(
            _message(
                what,
                inputs,
                [
                    f"expected: a dict with keys {', '.join(keys)}",
                    f"got:      {compare.describe_type(got)}",
                ],
            )
        )
    missing = [k for k in keys if k not in got]
    extra = [str(k) for k in got if k not in keys]
    if missing or extra:
        lines = [f"expected: the keys {', '.join(keys)}", f"got:      {', '.join(map(str, got))}"]
        lines += [f"missing:  {', '.join(missing)}"] if missing else []
        lines += [f"extra:    {', '.join(extra)}"] if extra else []
        raise AssertionError(_message(what, inputs, lines))


LOOKS_LIKE = "Looks like: "


def computed(fn: Callable[[], Any]) -> Any:
    """fn(), the oracle on a module's own parameters; None when the module lacks them."""
    try:
        return fn()
    except Exception:
        return None


def layers_of(module: Any, prefix: str = "") -> list[tuple[Any, Any]]:
    """(weight, bias or None) of W_query, W_key, W_value (`prefix`: a submodule), as float64."""
    out = []
    for name in ("W_query", "W_key", "W_value"):
        layer = module.get_submodule(f"{prefix}{name}")
        bias = None if layer.bias is None else layer.bias.detach().double().numpy()
        out.append((layer.weight.detach().double().numpy(), bias))
    return out


def module_case(
    exercise: str,
    module: Any,
    x: Any,
    *,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    right: Any = None,
) -> Case:
    """The case of `module(x)` for the mistake catalogue: the module built as
    `exercise(*args, **kwargs)` (after torch.manual_seed(seed), when given), in eval mode;
    `right`: what it should compute from its own parameters (the oracle's)."""
    params = {k: v.detach().clone() for k, v in module.named_parameters()}
    return Case(
        exercise,
        (x,),
        module_args=args,
        module_kwargs=kwargs or {},
        params=params,
        seed=seed,
        right=right,
    )


@contextmanager
def diagnosing(case: Case) -> Iterator[None]:
    """An exception raised inside gets a "Looks like" note when a known mistake raises it too."""
    try:
        yield
    except Exception as e:
        diagnosis = mistakes.diagnose_error(case, type(e).__name__, str(e))
        if diagnosis:
            e.__notes__ = [*getattr(e, "__notes__", []), f"{LOOKS_LIKE}{diagnosis}"]
        raise


def expect_sums_to_one(
    got: Any, *, what: str, dim: int = -1, inputs: str = "", kind: str = "torch"
) -> None:
    """Fail unless every slice of `got` along `dim` sums to 1 (within SUM_ATOL)."""
    array = as_numbers(got, kind=kind, what=what, inputs=inputs).astype(np.float64)
    sums = array.sum(axis=dim)
    problem = compare.mismatch(sums, np.ones_like(sums), atol=SUM_ATOL)
    if problem:
        raise AssertionError(
            _message(
                f"the sums along dim={dim} of {what}",
                inputs,
                [
                    "expected: 1 everywhere",
                    f"got:      {compare.fmt(sums, limit=200)} from {compare.describe_type(got)}",
                    problem,
                ],
            )
        )


def expect_that(
    ok: bool,
    *,
    what: str,
    inputs: str = "",
    expected: str,
    got: str,
    case: Case | None = None,
    value: Any = None,
    wanted: Any = None,
) -> None:
    """Fail unless `ok`, saying in words what was expected and what came back (`case`, `value`
    and `wanted`: the numbers compared, for naming a known mistake)."""
    if not ok:
        diagnosis = mistakes.diagnose(case, value, wanted)
        lines = [f"expected: {expected}", f"got:      {got}"]
        raise AssertionError(
            _message(what, inputs, lines + ([f"{LOOKS_LIKE}{diagnosis}"] if diagnosis else []))
        )


def expect_own_code(module: ModuleType, exercise: str, run: Callable[[], object]) -> None:
    """Fail if `exercise` uses what exercises.toml puts off-limits for it (source or a call)."""
    groups = manifest.by_id()[exercise].offlimits
    path = Path(module.__file__ or "")
    hidden = _evasions(path.parent)
    if hidden:
        lines = [f"{exercise} cannot be checked for off-limits calls: your files hold code that"]
        lines.append("  could hide such a call from the check (no exercise needs it):")
        lines += [f"  {hit}" for hit in hidden[:5]]
        lines.append("  Take it out: while it is there, every exercise with off-limits calls")
        lines.append("  scores 0.")
        raise AssertionError("\n".join(lines))
    found = offlimits.static_violations(path.read_text(encoding="utf-8"), [exercise], groups)
    with offlimits.watch(groups) as calls:
        run()
    if not found and not calls:
        return
    banned = "; ".join(offlimits.GROUPS[g] for g in groups)
    lines = [f"{exercise} must not use {banned}."]
    lines += [f"  {_shorten(path)} {hit}" for hit in found[:5]]
    if calls:
        lines.append(f"  called while {exercise} ran: {', '.join(calls[:5])}")
    lines.append("  Write this step yourself from the basic operations: that is the exercise.")
    raise AssertionError("\n".join(lines))


def _evasions(package: Path) -> list[str]:
    """What evasion.scan finds in the package's exercise modules (as the grader will)."""
    sources = {}
    for module in manifest.modules():
        try:
            sources[module] = (package / f"{module}.py").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a missing or unreadable file fails its own tests
    return evasion.scan(sources)


def _shorten(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _message(what: str, inputs: str, lines: list[str]) -> str:
    """`what`, then one indented line per field; a multi-line array stays under its label."""
    out = [what]
    for line in ([f"input:    {inputs}"] if inputs else []) + lines:
        first, *rest = line.split("\n")
        indent = 2 + (len(LABEL) if first[: len(LABEL)].rstrip().endswith(":") else 0)
        out.append(f"  {first}")
        out += [" " * indent + r for r in rest]
    return "\n".join(out)


LABEL = "expected: "  # every label is padded to this width


def show(**inputs: Any) -> str:
    """`x = [[0, 1], [1000, 1001]], dim = 0` for the input line of a message."""
    return ", ".join(f"{name} = {_show(value)}" for name, value in inputs.items())
