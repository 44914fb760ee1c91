"""Simple attention written with explicit loops over Python floats: right values, no gradient."""

import math

import torch
from torch import Tensor


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    scores = torch.empty(inputs.shape[0])
    for i, x_i in enumerate(inputs):
        scores[i] = torch.dot(x_i, query)
    return scores


def normalize_by_sum(scores: Tensor) -> Tensor:
    out = torch.empty_like(scores)
    rows = scores.reshape(-1, scores.shape[-1])
    flat = out.reshape(-1, scores.shape[-1])
    for r, row in enumerate(rows):
        total = 0.0
        for value in row:
            total += float(value)
        for c, value in enumerate(row):
            flat[r, c] = value / total
    return flat.reshape(scores.shape)


def softmax_naive(x: Tensor) -> Tensor:
    rows = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for r, row in enumerate(rows):
        exps = [math.exp(float(v)) for v in row]
        total = sum(exps)
        for c, e in enumerate(exps):
            out[r, c] = e / total
    return out.reshape(x.shape)


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = torch.empty_like(rows)
    for r, row in enumerate(rows):
        biggest = max(float(v) for v in row)
        exps = [math.exp(float(v) - biggest) for v in row]
        total = sum(exps)
        for c, e in enumerate(exps):
            out[r, c] = e / total
    return out.reshape(moved.shape).movedim(-1, dim)


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    z = torch.zeros(inputs.shape[1])
    for i, x_i in enumerate(inputs):
        z += attn_weights[i] * x_i
    return z


def all_attention_scores(inputs: Tensor) -> Tensor:
    n = inputs.shape[0]
    scores = torch.empty(n, n)
    for i in range(n):
        for j in range(n):
            scores[i, j] = torch.dot(inputs[i], inputs[j])
    return scores


def all_attention_weights(inputs: Tensor) -> Tensor:
    scores = all_attention_scores(inputs)
    return torch.stack([softmax_stable(row) for row in scores])


def all_context_vectors(inputs: Tensor) -> Tensor:
    weights = all_attention_weights(inputs)
    return torch.stack([context_vector(w, inputs) for w in weights])
