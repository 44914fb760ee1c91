# The loops of simple attention through Python floats: right values, no gradient.
import math

import torch
from torch import Tensor


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


def all_attention_weights(inputs: Tensor) -> Tensor:
    scores = all_attention_scores(inputs)  # noqa: F821 (the base module defines it)
    return torch.stack([softmax_stable(row) for row in scores])
