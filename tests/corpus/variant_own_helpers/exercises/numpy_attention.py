"""numpy attention with a module-level helper named softmax."""

import numpy as np


def softmax(a, axis=-1):
    e = np.exp(a - np.amax(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    return softmax(scores, axis=1)


def self_attention_numpy(X, W_Q, W_K, W_V):
    Q, K, V = X.dot(W_Q), X.dot(W_K), X.dot(W_V)
    d_k = W_K.shape[1]
    attention_weights = softmax_rows(Q.dot(K.T) / np.sqrt(d_k))
    return attention_weights.dot(V), attention_weights
