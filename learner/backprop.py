"""What later chapters need from an exercise besides its values: gradients that flow back to its
inputs and parameters, and inputs left as they were.

Used on both sides of the sandbox: the worker runs a student's call this way, the grader a
reference function, make check the student's code in its own process, so gradients are computed
alike. `Symptoms` records, during the student's call, what cuts a graph (a detach, a trip through
numpy or Python numbers, a no_grad block); it only names the mistake once the gradients have been
found wrong, never decides a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

# what cuts the graph, in the order a diagnosis prefers them (numpy usually comes with a detach)
NUMPY, PYTHON, NO_GRAD, DETACH = "numpy", "python", "no_grad", "detach"
_TO_NUMPY = {"numpy", "__array__"}
_TO_PYTHON = {"tolist", "item", "__float__", "__int__"}
_DETACH = {"detach", "detach_"}


class Symptoms(TorchFunctionMode):
    """Notes the torch calls of the body that cut a graph: a call made with gradients disabled,
    .detach() or .data, a tensor turned into numpy, or into Python numbers (float(t), .item())."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        name = getattr(func, "__name__", "")
        if not torch.is_grad_enabled():
            self.seen.add(NO_GRAD)
        if name in _TO_NUMPY:
            self.seen.add(NUMPY)
        elif name in _TO_PYTHON:
            self.seen.add(PYTHON)
        elif name in _DETACH or getattr(func, "__self__", None) is Tensor.data:
            self.seen.add(DETACH)
        return func(*args, **(kwargs or {}))

    def found(self) -> list[str]:
        return [s for s in (NUMPY, PYTHON, NO_GRAD, DETACH) if s in self.seen]


def snapshot(args: Sequence[Any]) -> list[tuple[int, np.ndarray]]:
    """Copies of the tensor and array arguments, by position."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            out.append((i, a.detach().numpy().copy()))
        elif isinstance(a, np.ndarray):
            out.append((i, a.copy()))
    return out


def changed(before: list[tuple[int, np.ndarray]], args: Sequence[Any]) -> list[int]:
    """The positions of the arguments whose values differ from their `snapshot`."""
    out = []
    for i, was in before:
        a = args[i]
        now = a.detach().numpy() if isinstance(a, Tensor) else np.asarray(a)
        if now.shape != was.shape or not np.array_equal(now, was, equal_nan=True):
            out.append(i)
    return out


def leaves(args: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """The arguments, those at `positions` as fresh float leaves that require a gradient."""
    out = list(args)
    for i in positions:
        if isinstance(out[i], Tensor) and out[i].is_floating_point():
            out[i] = out[i].detach().clone().requires_grad_(True)
    return out


def through(leaves: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """The arguments, those at `positions` as copies of their leaves inside the graph: a call
    may change them in place (to be seen and named) without touching the leaves themselves."""
    out = list(leaves)
    for i in positions:
        if isinstance(out[i], Tensor) and out[i].requires_grad:
            out[i] = out[i].clone()
    return out


def outputs_of(result: Any) -> list[Any]:
    """A call's outputs: the items of a tuple or list, else the one result."""
    return list(result) if isinstance(result, (tuple, list)) else [result]


def weighted_backward(result: Any, weights: Sequence[Tensor]) -> str:
    """Backward of sum_i (output_i * weights_i).sum(); "" when it ran, else why it could not
    (an output that is not a tensor, of another shape, or that carries no graph)."""
    outs = outputs_of(result)
    if len(outs) != len(weights):
        return f"returned {len(outs)} outputs, expected {len(weights)}"
    terms = []
    for i, (out, w) in enumerate(zip(outs, weights, strict=True)):
        label = f"output {i}" if len(outs) > 1 else "the output"
        if not isinstance(out, Tensor):
            return f"{label} is a {type(out).__name__}, not a tensor"
        if tuple(out.shape) != tuple(w.shape):
            return f"{label} has shape {list(out.shape)}, expected {list(w.shape)}"
        if out.requires_grad:
            terms.append((out * w.to(out.dtype)).sum())
    if terms:
        torch.autograd.backward(torch.stack([t.to(torch.float64) for t in terms]).sum())
    return ""


def grad_of(t: Any) -> Tensor | None:
    """A leaf's gradient, None when none reached it."""
    return t.grad.detach() if isinstance(t, Tensor) and t.grad is not None else None
