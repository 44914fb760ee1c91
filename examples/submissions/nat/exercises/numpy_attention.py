"""Scaled dot-product self-attention in plain numpy.

X [n, d] holds one token per row; W_Q, W_K [d, d_k] and W_V [d, d_v] project it to queries,
keys and values. Only numpy here: no torch, no scipy.
"""

import numpy as np


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array: every row is positive and sums to 1.

    Off-limits: a library softmax (scipy.special.softmax, torch). Keep it finite for large scores.
    """
    ### BEGIN SOLUTION
    shifted = scores - scores.max(axis=1, keepdims=True)  # (n, m), row max becomes 0
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
    ### END SOLUTION


def self_attention_numpy(
    X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(output [n, d_v], attention_weights [n, n]) with weights = softmax_rows(Q Kᵀ / sqrt(d_k))."""
    ### BEGIN SOLUTION
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V  # (n, d_k), (n, d_k), (n, d_v)
    scaled = Q @ K.T / np.sqrt(K.shape[1])  # (n, n)
    weights = softmax_rows(scaled)
    return weights @ V, weights
    ### END SOLUTION
