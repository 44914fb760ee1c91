"""Causal attention with nn.Softmax and F.softmax (allowed: only fused attention is off-limits)."""

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import Tensor, nn


def causal_mask(num_tokens: int) -> Tensor:
    return torch.ones(num_tokens, num_tokens).triu(1) == 1


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    n = attn_weights.shape[-1]
    kept = attn_weights * torch.tril(torch.ones(n, n))
    return kept / kept.sum(-1, keepdim=True)


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    scores = scores.masked_fill(causal_mask(scores.shape[-1]), float("-inf"))
    return F.softmax(scores / d_k**0.5, dim=-1)


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        n = x.size(1)
        keys = self.W_key(x)
        scores = self.W_query(x) @ keys.mT
        scores = scores.masked_fill(self.mask[:n, :n], -torch.inf)
        return self.dropout(self.softmax(scores / keys.size(-1) ** 0.5)) @ self.W_value(x)
