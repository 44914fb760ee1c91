"""Causal attention with a float mask buffer, as in the book."""

import torch
from torch import Tensor, nn


def causal_mask(num_tokens: int) -> Tensor:
    return torch.triu(torch.ones(num_tokens, num_tokens), diagonal=1).bool()


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    n = attn_weights.shape[-1]
    masked = torch.where(causal_mask(n), torch.zeros(()), attn_weights)
    return masked / masked.sum(dim=-1, keepdim=True)


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    n = scores.shape[-1]
    big = torch.finfo(scores.dtype).max
    scaled = scores.masked_fill(causal_mask(n), -big) / d_k**0.5
    e = torch.exp(scaled - scaled.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


class CausalAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        num_tokens = x.shape[1]
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)
        attn_scores = queries @ keys.transpose(1, 2)
        attn_scores.masked_fill_(self.mask[:num_tokens, :num_tokens] == 1, -1e9)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        return attn_weights @ values
