"""The chapter's formulas in float64 numpy: an independent oracle for the seeded random checks.

Written for clarity, one formula per function, and never imported by the exercises.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along `axis`; -inf entries get weight 0."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def future(n: int) -> np.ndarray:
    """bool [n, n], True strictly above the diagonal."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def attention(
    x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, *, causal: bool = False
) -> np.ndarray:
    """softmax(Q Kᵀ / sqrt(d_k)) V with Q = x wq, K = x wk, V = x wv; x is [..., n, d_in]."""
    q, k, v = x @ wq, x @ wk, x @ wv  # (..., n, d_out)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(k.shape[-1])  # (..., n, n)
    if causal:
        scores = np.where(future(x.shape[-2]), -np.inf, scores)
    return softmax(scores) @ v


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """What nn.Linear computes: x Wᵀ (+ b)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def linear_attention(
    x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray | None]], *, causal: bool = False
) -> np.ndarray:
    """Attention from three nn.Linear layers (weight [d_out, d_in], bias or None): query, key,
    value."""
    q, k, v = (linear(x, w, b) for w, b in layers)  # (..., n, d_out)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(k.shape[-1])  # (..., n, n)
    if causal:
        scores = np.where(future(x.shape[-2]), -np.inf, scores)
    return softmax(scores) @ v


def multi_head(
    x: np.ndarray,
    wq: np.ndarray,
    wk: np.ndarray,
    wv: np.ndarray,
    out_w: np.ndarray,
    out_b: np.ndarray | None,
    num_heads: int,
) -> np.ndarray:
    """Causal multi-head attention; the weights are [d_out, d_in], as nn.Linear holds them."""
    d_out = wq.shape[0]
    head_dim = d_out // num_heads
    heads = []
    for h in range(num_heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        heads.append(attention(x, wq[rows].T, wk[rows].T, wv[rows].T, causal=True))  # (b, n, hd)
    return linear(np.concatenate(heads, axis=-1), out_w, out_b)  # (b, n, d_out)
