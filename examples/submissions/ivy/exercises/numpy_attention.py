# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).
"""Scaled dot-product self-attention in plain numpy.

X [n, d] holds one token per row; W_Q, W_K [d, d_k] and W_V [d, d_v] project it to queries,
keys and values. Only numpy here: no torch, no scipy.
"""

import numpy as np


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array: every row is positive and sums to 1.

    Off-limits: a library softmax (scipy.special.softmax, torch). Keep it finite for large scores.
    """
    # TODO(softmax_rows): exponentiate the row-shifted scores and divide by each row's sum.
    raise NotImplementedError("softmax_rows: not started")


def self_attention_numpy(
    X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(output [n, d_v], attention_weights [n, n]) with weights = softmax_rows(Q Kᵀ / sqrt(d_k))."""
    # TODO(self_attention_numpy): compute Q, K, V, the scaled scores, their row softmax and the weighted values.
    raise NotImplementedError("self_attention_numpy: not started")
