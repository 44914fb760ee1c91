"""Multi-head attention with reshape, permute and torch.matmul."""

import torch
from torch import Tensor, nn

from .causal_attention import CausalAttention


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        heads = [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)]
        for _ in range(num_heads - 1):
            heads.append(CausalAttention(d_in, d_out, context_length, dropout, qkv_bias))
        self.heads = nn.ModuleList(heads)

    def forward(self, x: Tensor) -> Tensor:
        stacked = torch.stack([head(x) for head in self.heads], dim=-2)  # (b, n, h, d_out)
        return stacked.reshape(*stacked.shape[:-2], -1)  # (b, n, h * d_out)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out, self.num_heads = d_out, num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.ones(context_length, context_length).triu(diagonal=1).bool()
        )

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.num_heads, self.head_dim).permute(0, 2, 1, 3)  # (b, h, n, hd)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        q, k, v = (self._heads(layer(x)) for layer in (self.W_query, self.W_key, self.W_value))
        scores = torch.matmul(q, k.permute(0, 1, 3, 2)) / self.head_dim**0.5  # (b, h, n, n)
        scores = torch.where(self.mask[:n, :n], torch.tensor(float("-inf")), scores)
        weights = self.dropout(scores.softmax(dim=-1))
        context = torch.matmul(weights, v).permute(0, 2, 1, 3)  # (b, n, h, hd)
        return self.out_proj(context.reshape(b, n, self.d_out))


def two_dimensional_wrapper(d_in, context_length, dropout):
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)


def gpt2_small_attention(dropout=0.0):
    return MultiHeadAttention(768, 768, 1024, dropout, num_heads=12)
