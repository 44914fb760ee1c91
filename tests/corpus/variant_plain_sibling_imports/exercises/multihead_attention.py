"""Plain imports of a sibling file (from causal_attention import ...)."""

import torch
from causal_attention import CausalAttention, causal_attention_weights
from torch import Tensor, nn


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
            for _ in range(num_heads)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        if d_out % num_heads != 0:
            raise ValueError("d_out must be divisible by num_heads")
        self.d_out, self.num_heads, self.head_dim = d_out, num_heads, d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        split = (b, n, self.num_heads, self.head_dim)
        q = self.W_query(x).view(split).transpose(1, 2)  # (b, h, n, hd)
        k = self.W_key(x).view(split).transpose(1, 2)
        v = self.W_value(x).view(split).transpose(1, 2)
        weights = causal_attention_weights(q @ k.transpose(2, 3), self.head_dim)
        context = (self.dropout(weights) @ v).transpose(1, 2).contiguous()  # (b, n, h, hd)
        return self.out_proj(context.view(b, n, self.d_out))


def two_dimensional_wrapper(d_in, context_length, dropout):
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


def gpt2_small_attention(dropout=0.0):
    return MultiHeadAttention(768, 768, 1024, dropout, num_heads=12)
