"""Mistakes in trainable_attention: the wrong scale, the wrong softmax dimension, keys, values
and queries swapped, transposed weights, the layers' biases left out, the weights returned instead
of the context vectors, a SelfAttention_v2's weights copied into a SelfAttention_v1 untransposed."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import Mistake
from .modules import ModuleCall

SCALE = "divide the scores by sqrt(d_k), d_k = keys.shape[-1], before the softmax"

SAYS = {
    "d_k": "your weights look divided by d_k rather than sqrt(d_k): scale the scores by "
    "1 / d_k**0.5 (d_k = keys.shape[-1])",
    "none": f"the scores are not scaled: {SCALE}",
    "sqrt d_in": "you scale by sqrt(d_in), the inputs' width: divide by sqrt(d_k), the keys' "
    "width (keys.shape[-1])",
    "times": "you multiply the scores by sqrt(d_k): divide by it (scores / d_k**0.5)",
    "columns": "your softmax normalises the columns: take it along dim=-1, so that each "
    "query's row of weights sums to 1",
    "kv": "keys and values are swapped: score the queries against the keys (queries @ keys.T) "
    "and take the weighted sum of the values",
    "qk": "queries and keys are swapped: the scores are queries @ keys.T (row i is query i), "
    "not keys @ queries.T",
    "weights": "you return the attention weights [n, n]: return weights @ values, the context "
    "vectors",
    "transposed": "you multiply by the transposed weights: the projections are x @ W_query, "
    "x @ W_key, x @ W_value (no .T)",
    "linear transposed": "you multiply by the layers' weight matrices: nn.Linear keeps weight "
    "as [d_out, d_in] and adds its bias, so call the layer, self.W_query(x)",
    "no bias": "your projections leave out the layers' biases (x @ W_query.weight.T has none): "
    "call the layer, self.W_query(x), which adds its bias when qkv_bias=True",
}


def attend(q: Tensor, k: Tensor, v: Tensor, d_in: int, how: str) -> Tensor:
    """Attention from projections with one step done wrong (`how`, a key of SAYS)."""
    if how == "kv":
        k, v = v, k
    elif how == "qk":
        q, k = k, q
    d_k = k.shape[-1]
    scale = {"d_k": d_k, "none": 1.0, "sqrt d_in": d_in**0.5, "times": d_k**-0.5}.get(how, d_k**0.5)
    weights = torch.softmax(q @ k.transpose(-2, -1) / scale, dim=-2 if how == "columns" else -1)
    return weights if how == "weights" else weights @ v


def _function(how: str) -> Callable[..., Tensor]:
    def wrong(x: Tensor, w_query: Tensor, w_key: Tensor, w_value: Tensor) -> Tensor:
        ws = (w.T if how == "transposed" else w for w in (w_query, w_key, w_value))
        q, k, v = (x @ w for w in ws)
        return attend(q, k, v, x.shape[-1], how)

    return wrong


def _module(how: str) -> Callable[[ModuleCall], Tensor]:
    def wrong(call: ModuleCall) -> Tensor:
        x, names = call.x, ("W_query", "W_key", "W_value")
        if "W_query" in call.p:  # SelfAttention_v1: nn.Parameter [d_in, d_out]
            q, k, v = (x @ (call.p[n].T if how == "transposed" else call.p[n]) for n in names)
        elif how == "linear transposed":  # x @ layer.weight, [d_out, d_in]
            q, k, v = (x @ call.p[f"{n}.weight"] for n in names)
        elif how == "no bias":  # x @ layer.weight.T: right when the layers have no bias
            q, k, v = (x @ call.p[f"{n}.weight"].T for n in names)
        else:
            q, k, v = (call.linear(n, x) for n in names)
        return attend(q, k, v, x.shape[-1], how)

    return wrong


ATTENTION = ("d_k", "none", "sqrt d_in", "columns", "kv", "qk", "weights")


def _scaled(how: str) -> Callable[[Tensor, int], Tensor]:
    def wrong(scores: Tensor, d_k: int) -> Tensor:
        scale = {"d_k": d_k, "none": 1.0, "times": d_k**-0.5}.get(how, d_k**0.5)
        dim = {"columns": -2, "dim0": 0}.get(how, -1)
        return torch.softmax(scores / scale, dim=dim)

    return wrong


MISTAKES = {
    "qkv_projections": [
        Mistake("transposed", SAYS["transposed"], lambda x, q, k, v: (x @ q.T, x @ k.T, x @ v.T)),
        Mistake(
            "keys and values swapped",
            "keys and values are swapped: return (queries, keys, values) = "
            "(x @ W_query, x @ W_key, x @ W_value), in that order",
            lambda x, q, k, v: (x @ q, x @ v, x @ k),
        ),
    ],
    "scaled_attention_weights": [
        Mistake(how, SAYS[how], _scaled(how)) for how in ("d_k", "none", "times", "columns")
    ]
    + [Mistake("dim0", SAYS["columns"], _scaled("dim0"))],
    "self_attention": [
        Mistake(how, SAYS[how], _function(how)) for how in (*ATTENTION, "transposed")
    ],
    "SelfAttention_v1": [
        Mistake(how, SAYS[how], _module(how)) for how in (*ATTENTION, "transposed")
    ],
    "SelfAttention_v2": [
        Mistake(how, SAYS[how], _module(how))
        for how in (*ATTENTION, "linear transposed", "no bias")
    ],
    "v1_state_from_v2": [
        Mistake(
            "not transposed",
            "you copy the layers' weights as they are: nn.Linear keeps weight as [d_out, d_in] "
            "and computes x @ weight.T, so SelfAttention_v1's W_query [d_in, d_out] is "
            "weight.T",
            lambda state: {n: state[f"{n}.weight"] for n in ("W_query", "W_key", "W_value")},
        ),
    ],
}
