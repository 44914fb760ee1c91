"""Multi-head attention with einsum over heads."""

import torch
from torch import Tensor, nn

from .causal_attention import CausalAttention


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            [
                CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
                for _ in range(num_heads)
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        if d_out % num_heads:
            raise ValueError("d_out must be divisible by num_heads")
        self.num_heads, self.head_dim = num_heads, d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), 1).bool()
        )

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[1]
        h, hd = self.num_heads, self.head_dim
        q = self.W_query(x).unflatten(-1, (h, hd))  # (b, n, h, hd)
        k = self.W_key(x).unflatten(-1, (h, hd))
        v = self.W_value(x).unflatten(-1, (h, hd))
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / hd**0.5  # (b, h, n, n)
        scores = scores.masked_fill(self.mask[:n, :n], float("-inf"))
        weights = self.dropout(torch.softmax(scores, dim=-1))
        context = torch.einsum("bhij,bjhd->bihd", weights, v)  # (b, n, h, hd)
        return self.out_proj(context.flatten(-2))


def two_dimensional_wrapper(d_in, context_length, dropout):
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


def gpt2_small_attention(dropout=0.0):
    return MultiHeadAttention(768, 768, 1024, dropout, num_heads=12)
