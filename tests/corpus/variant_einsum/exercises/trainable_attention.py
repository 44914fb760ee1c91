"""Trainable attention with einsum."""

import torch
from torch import Tensor, nn


def qkv_projections(x, W_query, W_key, W_value):
    return tuple(torch.einsum("ni,io->no", x, w) for w in (W_query, W_key, W_value))


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    scaled = scores * d_k**-0.5
    e = torch.exp(scaled - scaled.amax(-1, keepdim=True))
    return e / e.sum(-1, keepdim=True)


def self_attention(x, W_query, W_key, W_value):
    q, k, v = qkv_projections(x, W_query, W_key, W_value)
    weights = scaled_attention_weights(torch.einsum("id,jd->ij", q, k), k.shape[-1])
    return torch.einsum("ij,jd->id", weights, v)


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x: Tensor) -> Tensor:
        return self_attention(x, self.W_query, self.W_key, self.W_value)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        weights = scaled_attention_weights(torch.einsum("id,jd->ij", q, k), k.shape[-1])
        return torch.einsum("ij,jd->id", weights, v)


def v1_state_from_v2(v2_state):
    names = ("W_query", "W_key", "W_value")
    return {n: torch.einsum("oi->io", v2_state[n + ".weight"]) for n in names}
