"""Mistakes in causal_attention: the mask including the diagonal or inverted, masking with 0
instead of -inf, forgetting to renormalise, the mask not cut to the sequence length, dropout on
the context vectors instead of the weights, and the scale and swaps of trainable attention."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import Mistake
from .modules import MASKS, ModuleCall, causal_head
from .trainable import SAYS

TRIU = "torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)"

MASK_SAYS = {
    "with diagonal": "your mask hides the diagonal too, so the first token sees nothing (a row "
    f"with nothing left gives nan): hide only what is above the diagonal, {TRIU}",
    "past": "your mask is below the diagonal (torch.tril): tokens see the future and not the "
    f"past; hide what is above the diagonal, {TRIU}",
    "past and diagonal": "your mask is inverted (True where a token may look, as ~mask or "
    f"torch.tril gives): True must mark the future, {TRIU}",
}

SAY = {
    **MASK_SAYS,
    "zero": "you fill the future scores with 0 instead of -inf, so the future keeps some weight "
    "after the softmax: masked_fill(mask, -torch.inf)",
    "no mask": "nothing is masked, so every token sees the future: fill the scores above the "
    "diagonal with -inf before the softmax",
    "not cut": "the mask is not cut to the sequence length: for n tokens use "
    "self.mask[:n, :n] (n = x.shape[1]), so n < context_length works",
    "dropout context": "dropout is applied to the context vectors, not to the attention weights: "
    "apply self.dropout to the weights, before weights @ values",
    "after softmax": "you zero the future after the softmax without renormalising, so the rows "
    "no longer sum to 1: fill the scores with -inf before the softmax",
    "no renormalise": "you zero the future but do not renormalise: divide each row by its new "
    "sum, masked / masked.sum(dim=-1, keepdim=True)",
    "whole sum": "you divide by the sum of the whole matrix: divide each row by its own sum, "
    "masked.sum(dim=-1, keepdim=True)",
    "columns": "you renormalise the columns: divide each row by its own sum, "
    "masked.sum(dim=-1, keepdim=True)",
    "no keepdim": "the row sums lost their dimension (keepdim=False), so they divide the "
    "columns: masked.sum(dim=-1, keepdim=True)",
}


def _mask(n: int, which: str) -> Tensor:
    return MASKS[which](n)


def _renormalised(how: str) -> Callable[[Tensor], Tensor]:
    def wrong(w: Tensor) -> Tensor:
        which = how if how in MASK_SAYS else "future"
        masked = w.masked_fill(_mask(w.shape[-1], which), 0.0)
        if how == "no renormalise":
            return masked
        if how == "whole sum":
            return masked / masked.sum()
        if how == "columns":
            return masked / masked.sum(dim=-2, keepdim=True)
        if how == "no keepdim":
            return masked / masked.sum(dim=-1)
        return masked / masked.sum(dim=-1, keepdim=True)

    return wrong


def _weights(how: str) -> Callable[[Tensor, int], Tensor]:
    def wrong(scores: Tensor, d_k: int) -> Tensor:
        n = scores.shape[-1]
        scale = {"d_k": d_k, "none": 1.0, "times": d_k**-0.5}.get(how, math.sqrt(d_k))
        if how == "after softmax":
            weights = torch.softmax(scores / scale, dim=-1)
            return weights.masked_fill(_mask(n, "future"), 0.0)
        which = how if how in MASK_SAYS else "future"
        fill = 0.0 if how == "zero" else -torch.inf
        masked = scores if how == "no mask" else scores.masked_fill(_mask(n, which), fill)
        return torch.softmax(masked / scale, dim=-2 if how == "columns" else -1)

    return wrong


RIGHT: dict[str, Any] = dict(
    scale="sqrt d_k", mask="future", fill=-math.inf, cut=True, swap="", drop="weights",
    returns="context",
)  # fmt: skip

# one wrong choice each, on top of RIGHT: (name, sentence, the choice)
HEAD = [
    ("zero", SAY["zero"], {"fill": 0.0}),
    ("d_k", SAYS["d_k"], {"scale": "d_k"}),
    ("none", SAYS["none"], {"scale": "none"}),
    ("sqrt d_in", SAYS["sqrt d_in"], {"scale": "sqrt d_in"}),
    *((which, says, {"mask": which}) for which, says in MASK_SAYS.items()),
    ("no mask", SAY["no mask"], {"mask": None}),
    ("not cut", SAY["not cut"], {"cut": False}),
    ("kv", SAYS["kv"], {"swap": "kv"}),
    ("qk", SAYS["qk"], {"swap": "qk"}),
    ("columns", SAYS["columns"], {"dim": -2}),
    ("weights", SAYS["weights"], {"returns": "weights"}),
    ("dropout context", SAY["dropout context"], {"drop": "context"}),
]


def _head(choice: dict[str, Any]) -> Callable[[ModuleCall], Tensor]:
    def wrong(call: ModuleCall) -> Tensor:
        call.start()
        return causal_head(call, "", **(RIGHT | choice))

    return wrong


MISTAKES = {
    "causal_mask": [
        Mistake(which, says, lambda n, which=which: _mask(n, which))
        for which, says in MASK_SAYS.items()
    ],
    "mask_and_renormalize": [
        Mistake(how, SAY[how], _renormalised(how))
        for how in ("no renormalise", *MASK_SAYS, "whole sum", "columns", "no keepdim")
    ],
    "causal_attention_weights": [
        Mistake(how, SAY.get(how) or SAYS[how], _weights(how))
        for how in ("zero", "after softmax", "no mask", *MASK_SAYS, "d_k", "none", "times")
    ]
    + [Mistake("columns", SAYS["columns"], _weights("columns"))],
    "CausalAttention": [Mistake(name, says, _head(choice)) for name, says, choice in HEAD],
}
