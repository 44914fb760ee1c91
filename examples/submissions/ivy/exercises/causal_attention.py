# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).
"""Causal (masked) attention: a token may attend to itself and the tokens before it only."""

import torch
from torch import Tensor, nn


def causal_mask(num_tokens: int) -> Tensor:
    """bool [n, n], True above the diagonal: the future positions a token must not see."""
    # TODO(causal_mask): return a bool [n, n] tensor that is True strictly above the diagonal.
    raise NotImplementedError("causal_mask: not started")


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    """Zero the weights above the diagonal of [..., n, n], then divide each row by its new sum."""
    # TODO(mask_and_renormalize): zero the weights above the diagonal, then divide each row by its new sum.
    raise NotImplementedError("mask_and_renormalize: not started")


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """Set future scores of [..., n, n] to -inf, then softmax(scores / sqrt(d_k)) on each row."""
    # TODO(causal_attention_weights): fill future scores with -inf, then softmax(scores / sqrt(d_k)) on each row.
    raise NotImplementedError("causal_attention_weights: not started")


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
        # TODO(CausalAttention): build the layers and mask buffer, then compute masked, scaled, dropped-out attention.
        raise NotImplementedError("CausalAttention: not started")

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> context vectors [batch, n, d_out]."""
        # TODO(CausalAttention): build the layers and mask buffer, then compute masked, scaled, dropped-out attention.
        raise NotImplementedError("CausalAttention: not started")
