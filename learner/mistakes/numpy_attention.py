"""Mistakes in numpy_attention: sums without keepdims, the wrong axis, no max shift, the wrong
scale, keys and values swapped."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import Mistake

KEEPDIMS = "e.sum(axis=1, keepdims=True)"


def _softmax(scores: np.ndarray, how: str) -> np.ndarray:
    """A row softmax done wrong: "no keepdims", "axis 0", "whole" or "no shift"."""
    s = np.asarray(scores)
    if how == "no shift":
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)
    if how == "no keepdims":  # (n, m) / (n,): divides column j by row j's sum
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1)
    if how == "no keepdims twice":  # the max subtracted from the wrong rows too
        e = np.exp(s - s.max(axis=1))
        return e / e.sum(axis=1)
    e = np.exp(s - s.max())
    if how == "axis 0":
        return e / e.sum(axis=0, keepdims=True)
    return e / e.sum()


SOFTMAX_SAYS = {
    "no keepdims": "the row sums lost their axis (no keepdims), so numpy divides column j by "
    f"row j's sum: use {KEEPDIMS}",
    "no keepdims twice": "the row maxima and sums lost their axis (no keepdims), so numpy "
    "applies row j's to column j: use scores.max(axis=1, keepdims=True) and "
    f"{KEEPDIMS}",
    "axis 0": f"each column sums to 1, not each row: sum along axis=1 ({KEEPDIMS})",
    "whole": f"you divide by the sum of the whole array: sum each row, {KEEPDIMS}",
    "no shift": "np.exp overflows to inf (then inf/inf = nan) on large scores: subtract each "
    "row's max first, scores - scores.max(axis=1, keepdims=True)",
}

ATTENTION_SAYS = {
    "none": "the scores are not scaled: divide Q @ K.T by np.sqrt(d_k), d_k = K.shape[1]",
    "d_k": "your weights look divided by d_k rather than sqrt(d_k): use np.sqrt(K.shape[1])",
    "sqrt d_v": "you scale by sqrt(d_v), V's width: divide by np.sqrt(d_k), K's width (K.shape[1])",
    "sqrt d": "you scale by sqrt(d), X's width: divide by np.sqrt(d_k), K's width (K.shape[1])",
    "kv": "keys and values are swapped: the scores are Q @ K.T and the output weights @ V",
    "pair": "the pair is the wrong way round: return (output, attention_weights)",
}


def _row(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _attention(how: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def wrong(
        X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        Q, K, V = X @ W_Q, X @ W_K, X @ W_V
        if how == "kv":
            K, V = V, K
        d_k = K.shape[1]
        scale = {"none": 1.0, "d_k": d_k, "sqrt d_v": V.shape[1] ** 0.5}
        scale["sqrt d"] = X.shape[1] ** 0.5
        scores = Q @ K.T / scale.get(how, d_k**0.5)
        weights = _softmax(scores, how) if how in SOFTMAX_SAYS else _row(scores)
        if how == "pair":
            return weights, weights @ V
        return weights @ V, weights

    return wrong


MISTAKES = {
    "softmax_rows": [
        Mistake(how, says, lambda s, how=how: _softmax(s, how))
        for how, says in SOFTMAX_SAYS.items()
    ],
    "self_attention_numpy": [
        Mistake(how, says, _attention(how)) for how, says in ATTENTION_SAYS.items()
    ]
    + [
        Mistake(how, f"{SOFTMAX_SAYS[how]} (in the softmax of the scores)", _attention(how))
        for how in ("no keepdims", "no keepdims twice", "axis 0")
    ],
}
