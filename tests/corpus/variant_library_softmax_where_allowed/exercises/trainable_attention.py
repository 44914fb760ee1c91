"""The library softmax where the exercises allow it."""

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import Tensor, nn


def qkv_projections(x, W_query, W_key, W_value):
    return [x @ W_query, x @ W_key, x @ W_value]


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    return F.softmax(scores / torch.sqrt(torch.tensor(float(d_k))), dim=-1)


def self_attention(x, W_query, W_key, W_value):
    q, k, v = qkv_projections(x, W_query, W_key, W_value)
    return (q @ k.T / k.shape[-1] ** 0.5).softmax(-1) @ v


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        keys = x @ self.W_key
        return self.softmax((x @ self.W_query) @ keys.T / keys.shape[-1] ** 0.5) @ (
            x @ self.W_value
        )


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in, d_out, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x):
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        return torch.softmax(q @ k.T / k.shape[-1] ** 0.5, dim=1) @ v


def v1_state_from_v2(v2_state: dict[str, Tensor]) -> dict[str, Tensor]:
    # the book's way: a SelfAttention_v1 whose parameters are the layers' weights transposed
    d_out, d_in = v2_state["W_query.weight"].shape
    sa_v1 = SelfAttention_v1(d_in, d_out)
    sa_v1.W_query = nn.Parameter(v2_state["W_query.weight"].T)
    sa_v1.W_key = nn.Parameter(v2_state["W_key.weight"].T)
    sa_v1.W_value = nn.Parameter(v2_state["W_value.weight"].T)
    return sa_v1.state_dict()
