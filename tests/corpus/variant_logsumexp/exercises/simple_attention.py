"""Softmax through logsumexp."""

import torch
from torch import Tensor


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    return (inputs * query).sum(dim=1)


def normalize_by_sum(scores: Tensor) -> Tensor:
    return scores / scores.sum(-1).unsqueeze(-1)


def softmax_naive(x: Tensor) -> Tensor:
    return torch.exp(x - torch.logsumexp(x, dim=-1, keepdim=True))


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    return (x - x.logsumexp(dim, keepdim=True)).exp()


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    return (attn_weights[:, None] * inputs).sum(0)


def all_attention_scores(inputs: Tensor) -> Tensor:
    return (inputs[:, None, :] * inputs[None, :, :]).sum(-1)  # (n, n, d) -> (n, n)


def all_attention_weights(inputs: Tensor) -> Tensor:
    return softmax_stable(all_attention_scores(inputs))


def all_context_vectors(inputs: Tensor) -> Tensor:
    return all_attention_weights(inputs).matmul(inputs)
