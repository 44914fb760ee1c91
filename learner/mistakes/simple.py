"""Mistakes in simple_attention: normalising along the wrong dimension or over everything,
dropping keepdim (of the sum or the max), softmax without its max shift, transposed weights."""

from __future__ import annotations

import torch
from torch import Tensor

from . import Mistake

ROWS = "dim=-1, keepdim=True"


def _by_sum(t: Tensor, how: str) -> Tensor:
    """t divided by its sum taken the wrong way: "all", "dim0", "columns" or "no keepdim"."""
    if how == "all":
        return t / t.sum()
    if how == "dim0":
        return t / t.sum(dim=0, keepdim=True)
    if how == "columns":
        return t / t.sum(dim=-2, keepdim=True)
    return t / t.sum(dim=-1)  # (..., n) / (...,): broadcast against the wrong dimension


def _normalised(name: str) -> list[Mistake]:
    """The wrong sums of `name` = t / sum(t), with t = scores or exp(x)."""
    exp = name != "normalize_by_sum"
    f = torch.exp if exp else (lambda t: t)
    what = "exp(x)" if exp else "scores"
    return [
        Mistake(
            "whole tensor",
            f"you divide by the sum of the whole tensor, so the rows of a 2-D input do not each "
            f"sum to 1: sum along the last dimension, {what}.sum({ROWS})",
            lambda t: _by_sum(f(t), "all"),
        ),
        Mistake(
            "columns",
            f"your result's columns sum to 1, not its rows: sum along the last dimension, "
            f"{what}.sum({ROWS}), not dim=0",
            lambda t: _by_sum(f(t), "columns"),
        ),
        Mistake(
            "no keepdim",
            f"the sum lost its dimension (keepdim=False), so it is broadcast against the columns: "
            f"use {what}.sum({ROWS})",
            lambda t: _by_sum(f(t), "no keepdim"),
        ),
    ]


def _no_shift(x: Tensor, dim: int = -1) -> Tensor:
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def _rows_only(x: Tensor, dim: int = -1) -> Tensor:
    return torch.softmax(x, dim=-1)


def _no_keepdim(x: Tensor, dim: int = -1) -> Tensor:
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim)  # broadcast against the wrong dimension


def _max_no_keepdim(x: Tensor, dim: int = -1) -> Tensor:
    e = torch.exp(x - x.max(dim=dim).values)  # the max of other slices, where it broadcasts
    return e / e.sum(dim=dim, keepdim=True)


def _whole(x: Tensor, dim: int = -1) -> Tensor:
    e = torch.exp(x - x.max())
    return e / e.sum()


# the max and the sum without keepdim raise the same error: which one it was, it cannot tell
KEEPDIM_ERROR = (
    "the max or the sum along dim lost its dimension (keepdim=False, as x.max(dim=dim).values "
    "or e.sum(dim=dim) give), so it cannot broadcast back: x.amax(dim=dim, keepdim=True) and "
    "e.sum(dim=dim, keepdim=True)"
)

SOFTMAX_STABLE = [
    Mistake(
        "no max shift",
        "exp overflows to inf (then inf/inf = nan) on large logits: subtract the max along dim "
        "first, x - x.amax(dim=dim, keepdim=True), then exp",
        _no_shift,
    ),
    Mistake(
        "ignores dim",
        "you normalise the last dimension whatever `dim` is: take the max and the sum along "
        "dim=dim (with keepdim=True)",
        _rows_only,
    ),
    Mistake(
        "whole tensor",
        "you divide by the sum over the whole tensor: sum along dim=dim with keepdim=True",
        _whole,
    ),
    Mistake(
        "no keepdim",
        "the sum lost its dimension (keepdim=False), so it is broadcast against the wrong "
        "dimension: e.sum(dim=dim, keepdim=True)",
        _no_keepdim,
        error_says=KEEPDIM_ERROR,
    ),
    Mistake(
        "max no keepdim",
        "the max lost its dimension (keepdim=False), so each slice is shifted by another "
        "slice's max: x - x.amax(dim=dim, keepdim=True) (x.max(dim=dim).values drops it)",
        _max_no_keepdim,
        error_says=KEEPDIM_ERROR,
    ),
]


def _all_weights(inputs: Tensor, how: str) -> Tensor:
    scores = inputs @ inputs.transpose(-2, -1)  # (n, n)
    if how == "columns":
        return torch.softmax(scores, dim=-2)
    if how == "whole":
        e = torch.exp(scores - scores.max())
        return e / e.sum()
    if how == "sum":
        return scores / scores.sum(dim=-1, keepdim=True)
    if how == "rows":  # the weights themselves, for a mistake that stops at them
        return torch.softmax(scores, dim=-1)
    return scores  # "scores": no softmax at all


WEIGHTS_SAY = {
    "columns": "your weights' columns sum to 1, not their rows: softmax along dim=-1 (each "
    "query's row), not dim=0",
    "whole": "your softmax is over the whole [n, n] matrix: take it along dim=-1, row by row",
    "sum": "you divide the scores by their sum instead of taking the softmax: use exp, or "
    "softmax along dim=-1",
    "scores": "these are the raw scores: the weights are their softmax along dim=-1",
}

# The scores x x^T are symmetric, so the transposed weights are exactly the weights softmaxed
# along dim=0: one sentence names both.
CONTEXT_SAY = {
    "columns": "the weights you multiply with the inputs have columns that sum to 1, not rows: "
    "they are transposed (weights.T @ inputs) or softmaxed along dim=0; use weights @ inputs "
    "with the softmax along dim=-1",
}


MISTAKES = {
    "normalize_by_sum": _normalised("normalize_by_sum"),
    "softmax_naive": _normalised("softmax_naive"),
    "softmax_stable": SOFTMAX_STABLE,
    "all_attention_weights": [
        Mistake(how, says, lambda x, how=how: _all_weights(x, how))
        for how, says in WEIGHTS_SAY.items()
    ],
    "all_context_vectors": [
        Mistake(
            how,
            CONTEXT_SAY.get(how, f"{says} (in the weights you multiply with the inputs)"),
            (lambda x, how=how: _all_weights(x, how) @ x),
        )
        for how, says in WEIGHTS_SAY.items()
    ]
    + [
        Mistake(
            "returns weights",
            "you return the attention weights [n, n]: the context vectors are weights @ inputs",
            lambda x: _all_weights(x, "rows"),
        )
    ],
}
