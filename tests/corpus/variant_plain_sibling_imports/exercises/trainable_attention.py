"""Trainable attention reusing simple_attention through a plain import of the sibling file."""

import simple_attention as simple
import torch
from simple_attention import softmax_stable
from torch import Tensor, nn


def qkv_projections(x, W_query, W_key, W_value):
    return x @ W_query, x @ W_key, x @ W_value


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    return softmax_stable(scores / d_k**0.5, dim=-1)


def self_attention(x, W_query, W_key, W_value):
    queries, keys, values = qkv_projections(x, W_query, W_key, W_value)
    weights = scaled_attention_weights(queries @ keys.T, keys.shape[1])
    return weights @ values


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x):
        return self_attention(x, self.W_query, self.W_key, self.W_value)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        keys = self.W_key(x)
        weights = simple.softmax_stable(self.W_query(x) @ keys.T / keys.shape[-1] ** 0.5)
        return weights @ self.W_value(x)


def v1_state_from_v2(v2_state):
    names = ["W_query", "W_key", "W_value"]
    return dict(
        zip(
            names,
            (v2_state[f"{n}.weight"].transpose(0, 1).contiguous() for n in names),
            strict=True,
        )
    )
