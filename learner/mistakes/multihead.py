"""Mistakes in multihead_attention: heads concatenated along the wrong dimension, heads split
with view and no transpose, out_proj forgotten, the scale of the whole d_out, dropout in the
wrong place, and the causal mistakes inside the wrapper's heads."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import Mistake
from .causal import HEAD, RIGHT, SAY
from .modules import ModuleCall, causal_head, head_prefixes, multi_head

CAT = "concatenate the heads' outputs along the last dimension, torch.cat(..., dim=-1)"


def _wrapper(choice: dict[str, Any], dim: int = -1) -> Callable[[ModuleCall], Tensor]:
    def wrong(call: ModuleCall) -> Tensor:
        call.start()
        heads = [causal_head(call, prefix, **(RIGHT | choice)) for prefix in head_prefixes(call.p)]
        return torch.cat(heads, dim=dim)

    return wrong


MHA_RIGHT: dict[str, Any] = dict(
    scale="sqrt head_dim", mask="future", fill=-math.inf, cut=True, split="transpose",
    merge="transpose", out_proj=True, drop="weights",
)  # fmt: skip

MHA = [
    (
        "no out_proj",
        "out_proj is never applied: return self.out_proj(context) after merging the heads",
        {"out_proj": False},
    ),
    (
        "split view",
        "you split the heads with view(b, num_heads, n, head_dim) and no transpose, which mixes "
        "tokens and heads: view(b, n, num_heads, head_dim), then .transpose(1, 2)",
        {"split": "view"},
    ),
    (
        "merge view",
        "you merge the heads back without transposing them first: "
        "context.transpose(1, 2).contiguous().view(b, n, d_out)",
        {"merge": "view"},
    ),
    (
        "sqrt d_out",
        "you scale by sqrt(d_out): each head divides its scores by sqrt(head_dim), "
        "head_dim = d_out // num_heads",
        {"scale": "sqrt d_out"},
    ),
    (
        "head_dim",
        "your weights look divided by head_dim rather than sqrt(head_dim): scale the scores by "
        "1 / head_dim**0.5",
        {"scale": "head_dim"},
    ),
    ("none", "the scores are not scaled: divide them by sqrt(head_dim)", {"scale": "none"}),
    *((name, says, choice) for name, says, choice in HEAD if "mask" in choice or "fill" in choice),
    ("not cut", SAY["not cut"], {"cut": False}),
    (
        "dropout context",
        "dropout is applied to the merged context vectors, not to the attention weights: apply "
        "self.dropout to the weights, before weights @ values",
        {"drop": "context"},
    ),
    (
        "dropout output",
        "dropout is applied to the output of out_proj, not to the attention weights: apply "
        "self.dropout to the weights, before weights @ values",
        {"drop": "output"},
    ),
]


def _mha(choice: dict[str, Any]) -> Callable[[ModuleCall], Tensor]:
    def wrong(call: ModuleCall) -> Tensor:
        call.start()
        return multi_head(call, **(MHA_RIGHT | choice))

    return wrong


MISTAKES = {
    "MultiHeadAttentionWrapper": [
        Mistake(
            "concat tokens",
            f"you concatenate the heads along the tokens (dim=1): {CAT}",
            _wrapper({}, dim=1),
        ),
        Mistake(
            "concat batch",
            f"you concatenate the heads along the batch (dim=0): {CAT}",
            _wrapper({}, dim=0),
        ),
    ]
    + [
        Mistake(f"heads: {name}", f"in your heads (CausalAttention): {says}", _wrapper(choice))
        for name, says, choice in HEAD
    ],
    "MultiHeadAttention": [Mistake(name, says, _mha(choice)) for name, says, choice in MHA],
}
