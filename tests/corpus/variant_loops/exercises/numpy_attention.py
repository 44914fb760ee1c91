"""numpy attention with loops over rows and tokens."""

import math

import numpy as np


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    out = np.empty(scores.shape, dtype=float)
    for i, row in enumerate(scores):
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        out[i] = [e / total for e in exps]
    return out


def self_attention_numpy(X, W_Q, W_K, W_V):
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V
    n, d_k = K.shape
    scores = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            scores[i, j] = float(np.dot(Q[i], K[j])) / math.sqrt(d_k)
    weights = softmax_rows(scores)
    output = np.zeros((n, V.shape[1]))
    for i in range(n):
        for j in range(n):
            output[i] += weights[i, j] * V[j]
    return output, weights
