"""Seeded parameters built the wrong way: torch.randn instead of torch.rand, the layers created
in another order, nn.Linear with a bias when qkv_bias=False.

Each candidate is built under the same seed the check used; a student whose fresh parameters
equal one of them computed with parameters the seed cannot make the book's numbers from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import permutations
from typing import Any

import numpy as np
import torch
from torch import nn

from .modules import SIGNATURES

QKV = ("W_query", "W_key", "W_value")
RANDN = (
    "the parameters differ from the book's: they look drawn with torch.randn; draw each with "
    "torch.rand(d_in, d_out) (uniform in [0, 1)), W_query, W_key, W_value in that order"
)
BIAS = (
    "the parameters differ from the book's: your nn.Linear layers have biases although "
    "qkv_bias=False (nn.Linear has one by default): pass bias=qkv_bias"
)


def _order(got: tuple[str, ...], right: tuple[str, ...]) -> str:
    return (
        f"the parameters differ from the book's: they look created in the order "
        f"{', '.join(got)}; create {', '.join(right)} in that order, so that the seed gives "
        "the book's numbers"
    )


def _linears(
    d_in: int, d_out: int, order: tuple[str, ...], bias: bool, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """nn.Linear layers created in `order` from the current generator; out_proj is d_out -> d_out
    with a bias, as the exercise asks."""
    out: dict[str, torch.Tensor] = {}
    for name in order:
        layer = nn.Linear(d_out, d_out) if name == "out_proj" else nn.Linear(d_in, d_out, bias=bias)
        out[f"{prefix}{name}.weight"] = layer.weight.detach()
        if layer.bias is not None:
            out[f"{prefix}{name}.bias"] = layer.bias.detach()
    return out


def _candidates(exercise: str, s: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(sentence, build) for each wrong way; build() draws from the freshly seeded generator."""
    d_in, d_out, bias = s["d_in"], s["d_out"], bool(s.get("qkv_bias", False))
    if exercise == "SelfAttention_v1":
        yield RANDN, lambda: {n: torch.randn(d_in, d_out) for n in QKV}
        for order in permutations(QKV):
            if order != QKV:
                yield _order(order, QKV), lambda o=order: {n: torch.rand(d_in, d_out) for n in o}
        return
    layers = (*QKV, "out_proj") if exercise == "MultiHeadAttention" else QKV
    heads = s.get("num_heads", 1) if exercise == "MultiHeadAttentionWrapper" else 1
    prefixes = [f"heads.{i}." for i in range(heads)] if heads > 1 or "Wrapper" in exercise else [""]

    def build(order: tuple[str, ...], with_bias: bool) -> Any:
        def run() -> dict[str, torch.Tensor]:
            out: dict[str, torch.Tensor] = {}
            for prefix in prefixes:
                out |= _linears(d_in, d_out, order, with_bias, prefix)
            return out

        return run

    if not bias:
        yield BIAS, build(layers, True)
    for order in permutations(layers):
        if order != layers:
            yield _order(order, layers), build(order, bias)


def sentences() -> list[str]:
    """Every sentence a seeded diagnosis can give."""
    out: list[str] = []
    settings = dict(d_in=3, d_out=2, context_length=6, dropout=0.0, num_heads=2, qkv_bias=False)
    for exercise in SIGNATURES:
        out += [says for says, _ in _candidates(exercise, settings)]
    return sorted(set(out))


def diagnose_seeded(
    exercise: str,
    module_args: tuple[Any, ...],
    module_kwargs: Mapping[str, Any],
    seed: int,
    params: Mapping[str, Any],
) -> str | None:
    """The first wrong way of building whose parameters, under `seed`, are the student's."""
    if exercise not in SIGNATURES:
        return None
    names = SIGNATURES[exercise]
    settings = dict(zip(names, module_args, strict=False)) | dict(module_kwargs)
    got = {k: np.asarray(v.detach() if hasattr(v, "detach") else v) for k, v in params.items()}
    state = torch.get_rng_state()
    try:
        for says, make in _candidates(exercise, settings):
            torch.default_generator.manual_seed(seed)
            candidate = make()
            if set(candidate) == set(got) and all(
                got[k].shape == tuple(t.shape) and np.array_equal(got[k], t.numpy())
                for k, t in candidate.items()
            ):
                return says
    finally:
        torch.set_rng_state(state)
    return None
