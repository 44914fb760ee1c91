"""numpy softmax through a hand-made logsumexp."""

import numpy as np


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=1, keepdims=True))


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    return np.exp(scores - _logsumexp(scores))


def self_attention_numpy(X, W_Q, W_K, W_V):
    Q = np.matmul(X, W_Q)
    K = np.matmul(X, W_K)
    V = np.matmul(X, W_V)
    A = softmax_rows(np.matmul(Q, K.T) / K.shape[-1] ** 0.5)
    return np.matmul(A, V), A
