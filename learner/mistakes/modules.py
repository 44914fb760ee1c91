"""What the class mistakes share: a module's call as plain tensors, and attention with each step
chosen by the caller (every mistake passes each choice, wrong in exactly one of them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

if TYPE_CHECKING:
    from . import Case

# constructor argument names, in order, of each class exercise
SIGNATURES = {
    "SelfAttention_v1": ("d_in", "d_out"),
    "SelfAttention_v2": ("d_in", "d_out", "qkv_bias"),
    "CausalAttention": ("d_in", "d_out", "context_length", "dropout", "qkv_bias"),
    "MultiHeadAttentionWrapper": (
        "d_in", "d_out", "context_length", "dropout", "num_heads", "qkv_bias",
    ),
    "MultiHeadAttention": ("d_in", "d_out", "context_length", "dropout", "num_heads", "qkv_bias"),
}  # fmt: skip

# which positions a mask hides: the right one (the future), and the usual wrong ones
MASKS = {
    "future": lambda n: torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1),
    "with diagonal": lambda n: torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=0),
    "past": lambda n: torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1),
    "past and diagonal": lambda n: torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=0),
}


@dataclass
class ModuleCall:
    """One forward call of a class exercise: its parameters (in x's dtype), x and its settings."""

    p: dict[str, Tensor]
    x: Tensor
    settings: dict[str, Any]
    train: bool
    forward_seed: int | None

    @classmethod
    def of(cls, case: Case) -> ModuleCall:
        names = SIGNATURES[case.exercise]
        settings = dict(zip(names, case.module_args, strict=False)) | dict(case.module_kwargs)
        x = _tensor(case.args[0])
        params = {k: _tensor(v).to(x.dtype) for k, v in (case.params or {}).items()}
        return cls(params, x, settings, case.train, case.forward_seed)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.settings[name]
        except KeyError:
            raise AttributeError(name) from None

    def start(self) -> None:
        """Seed as the worker did before this forward (train mode needs the same dropout draws)."""
        if self.train:
            if self.forward_seed is None:
                raise LookupError("train mode without a forward seed: dropout cannot be redone")
            torch.default_generator.manual_seed(self.forward_seed)

    def drop(self, t: Tensor) -> Tensor:
        return functional.dropout(t, self.dropout, training=True) if self.train else t

    def linear(self, name: str, t: Tensor) -> Tensor:
        """What nn.Linear `name` computes on t (x Wᵀ + b)."""
        return functional.linear(t, self.p[f"{name}.weight"], self.p.get(f"{name}.bias"))


def _tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    return torch.from_numpy(np.ascontiguousarray(value))


def scores_to_weights(
    call: ModuleCall,
    scores: Tensor,
    *,
    scale: float,
    mask: str | None,
    fill: float,
    cut: bool,
    dim: int,
) -> Tensor:
    """Scores (..., n, n) masked (mask None: not at all), scaled by 1/scale and softmaxed."""
    if mask is not None:
        n = scores.shape[-1]
        hidden = MASKS[mask](n if cut else call.context_length)
        scores = scores.masked_fill(hidden, fill)
    return torch.softmax(scores / scale, dim=dim)


def causal_head(
    call: ModuleCall,
    prefix: str,
    *,
    scale: str,
    mask: str,
    fill: float,
    cut: bool,
    swap: str,
    drop: str,
    returns: str,
    dim: int = -1,
) -> Tensor:
    """One CausalAttention head with parameters `prefix`W_query... on call.x.

    scale: "sqrt d_k", "d_k", "sqrt d_in" or "none"; swap: "", "kv" or "qk"; drop: "weights"
    or "context"; returns: "context" or "weights"; dim: the softmax's.
    """
    x = call.x
    q, k, v = (call.linear(f"{prefix}{n}", x) for n in ("W_query", "W_key", "W_value"))
    if swap == "kv":
        k, v = v, k
    elif swap == "qk":
        q, k = k, q
    d_k, d_in = k.shape[-1], x.shape[-1]
    by = {"sqrt d_k": d_k**0.5, "d_k": float(d_k), "sqrt d_in": d_in**0.5, "none": 1.0}[scale]
    scores = q @ k.transpose(-2, -1)  # (b, n, n)
    weights = scores_to_weights(call, scores, scale=by, mask=mask, fill=fill, cut=cut, dim=dim)
    if returns == "weights":
        return weights
    if drop == "weights":
        return call.drop(weights) @ v
    return call.drop(weights @ v)


def multi_head(
    call: ModuleCall,
    *,
    scale: str,
    mask: str,
    fill: float,
    cut: bool,
    split: str,
    merge: str,
    out_proj: bool,
    drop: str,
) -> Tensor:
    """MultiHeadAttention on call.x with each step as given.

    scale: "sqrt head_dim", "sqrt d_out", "head_dim" or "none"; split: "transpose" or "view"
    (view straight to (b, h, n, head_dim)); merge: "transpose" or "view"; drop: "weights",
    "context" (the merged heads) or "output" (after out_proj).
    """
    x = call.x
    b, n, _ = x.shape
    h = call.num_heads
    d_out = call.p["W_query.weight"].shape[0]
    hd = d_out // h

    def heads(t: Tensor) -> Tensor:
        if split == "view":
            return t.reshape(b, h, n, hd)
        return t.reshape(b, n, h, hd).transpose(1, 2)  # (b, h, n, hd)

    q, k, v = (heads(call.linear(name, x)) for name in ("W_query", "W_key", "W_value"))
    by = {"sqrt head_dim": hd**0.5, "sqrt d_out": d_out**0.5, "head_dim": float(hd), "none": 1.0}
    scores = q @ k.transpose(2, 3)  # (b, h, n, n)
    weights = scores_to_weights(
        call, scores, scale=by[scale], mask=mask, fill=fill, cut=cut, dim=-1
    )
    if drop == "weights":
        weights = call.drop(weights)
    context = weights @ v  # (b, h, n, hd)
    if merge == "view":
        context = context.reshape(b, n, d_out)
    else:
        context = context.transpose(1, 2).reshape(b, n, d_out)
    if drop == "context":
        context = call.drop(context)
    out = call.linear("out_proj", context) if out_proj else context
    return call.drop(out) if drop == "output" else out


def head_prefixes(params: Mapping[str, Tensor]) -> list[str]:
    """`heads.0.`, `heads.1.`, ... for the wrapper's parameters, in order."""
    count = len({k.split(".")[1] for k in params if k.startswith("heads.")})
    return [f"heads.{i}." for i in range(count)]
