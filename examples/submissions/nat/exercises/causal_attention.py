"""Causal (masked) attention: a token may attend to itself and the tokens before it only."""

import torch
from torch import Tensor, nn


def causal_mask(num_tokens: int) -> Tensor:
    """bool [n, n], True above the diagonal: the future positions a token must not see."""
    ### BEGIN SOLUTION
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)
    ### END SOLUTION


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    """Zero the weights above the diagonal of [..., n, n], then divide each row by its new sum."""
    ### BEGIN SOLUTION
    masked = attn_weights.masked_fill(causal_mask(attn_weights.shape[-1]), 0.0)
    return masked / masked.sum(dim=-1, keepdim=True)
    ### END SOLUTION


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """Set future scores of [..., n, n] to -inf, then softmax(scores / sqrt(d_k)) on each row."""
    ### BEGIN SOLUTION
    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)
    return torch.softmax(masked / d_k**0.5, dim=-1)
    ### END SOLUTION


class CausalAttention(nn.Module):
    """Single-head causal self-attention with dropout on the attention weights.

    Create, in this order: nn.Linear W_query, W_key, W_value (bias=qkv_bias), nn.Dropout(dropout),
    and a buffer named `mask` [context_length, context_length] (True or 1 above the diagonal).
    forward(x) takes x [batch, n, d_in] with n <= context_length and returns [batch, n, d_out].
    Off-limits: F.scaled_dot_product_attention and nn.MultiheadAttention.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> context vectors [batch, n, d_out]."""
        ### BEGIN SOLUTION
        num_tokens = x.shape[-2]
        queries = self.W_query(x)  # (b, n, d_out)
        keys = self.W_key(x)  # (b, n, d_out)
        values = self.W_value(x)  # (b, n, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (b, n, n)
        future = self.mask.bool()[:num_tokens, :num_tokens]  # (n, n)
        scores = scores.masked_fill(future, -torch.inf)
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)
        weights = self.dropout(weights)
        return weights @ values  # (b, n, d_out)
        ### END SOLUTION
