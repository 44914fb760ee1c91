"""Simple attention with einsum."""

import torch
from torch import Tensor


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    return torch.einsum("nd,d->n", inputs, query)


def normalize_by_sum(scores: Tensor) -> Tensor:
    return scores / torch.einsum("...n->...", scores).unsqueeze(-1)


def softmax_naive(x: Tensor) -> Tensor:
    e = x.exp()
    return e / torch.einsum("...n->...", e)[..., None]


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    e = (x - x.max(dim=dim, keepdim=True).values).exp()
    return e / e.sum(dim, keepdim=True)


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    return torch.einsum("n,nd->d", attn_weights, inputs)


def all_attention_scores(inputs: Tensor) -> Tensor:
    return torch.einsum("id,jd->ij", inputs, inputs)


def all_attention_weights(inputs: Tensor) -> Tensor:
    return softmax_stable(all_attention_scores(inputs), dim=1)


def all_context_vectors(inputs: Tensor) -> Tensor:
    return torch.einsum("ij,jd->id", all_attention_weights(inputs), inputs)
