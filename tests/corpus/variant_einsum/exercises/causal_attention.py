"""Causal attention with einsum."""

import torch
from torch import Tensor, nn


def causal_mask(num_tokens: int) -> Tensor:
    i = torch.arange(num_tokens)
    return i[None, :] > i[:, None]


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    kept = attn_weights * ~causal_mask(attn_weights.shape[-1])
    return kept / torch.einsum("...ij->...i", kept)[..., None]


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    masked = torch.where(causal_mask(scores.shape[-1]), float("-inf"), scores / d_k**0.5)
    return torch.softmax(masked, dim=-1)


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        scores = torch.einsum("bid,bjd->bij", q, k)
        weights = causal_attention_weights(scores, k.shape[-1])
        return torch.einsum("bij,bjd->bid", self.dropout(weights), v)
