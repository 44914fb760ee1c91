# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).
"""Multi-head attention: several causal heads side by side (book section 3.6)."""

import torch
from torch import Tensor, nn

from .causal_attention import CausalAttention


class MultiHeadAttentionWrapper(nn.Module):
    """num_heads independent CausalAttention heads in an nn.ModuleList named `heads`.

    forward(x) concatenates the heads' outputs on the last dimension: [batch, n, d_out * num_heads].
    Off-limits: F.scaled_dot_product_attention and nn.MultiheadAttention.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        # TODO(MultiHeadAttentionWrapper): build num_heads CausalAttention heads and concatenate their outputs.
        raise NotImplementedError("MultiHeadAttentionWrapper: not started")

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> [batch, n, d_out * num_heads]."""
        # TODO(MultiHeadAttentionWrapper): build num_heads CausalAttention heads and concatenate their outputs.
        raise NotImplementedError("MultiHeadAttentionWrapper: not started")


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention with one set of projections split into heads.

    Create, in this order: nn.Linear W_query, W_key, W_value [d_in -> d_out] (bias=qkv_bias),
    out_proj nn.Linear(d_out, d_out), nn.Dropout(dropout) and a buffer `mask`
    [context_length, context_length]. Each head works on head_dim = d_out // num_heads features;
    when d_out is not divisible by num_heads, raise ValueError (or, as the book does,
    `assert d_out % num_heads == 0`: either is fine). Output: [batch, n, d_out].
    Off-limits: F.scaled_dot_product_attention and nn.MultiheadAttention.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        # TODO(MultiHeadAttention): project once, split into heads, attend causally per head, merge heads and apply out_proj.
        raise NotImplementedError("MultiHeadAttention: not started")

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> [batch, n, d_out]."""
        # TODO(MultiHeadAttention): project once, split into heads, attend causally per head, merge heads and apply out_proj.
        raise NotImplementedError("MultiHeadAttention: not started")


def two_dimensional_wrapper(d_in: int, context_length: int, dropout: float) -> nn.Module:
    """A MultiHeadAttentionWrapper with num_heads=2 whose context vectors are 2-dimensional
    (book exercise 3.2): forward(x [batch, n, d_in]) -> [batch, n, 2]. Build it from your class
    above: which of its arguments makes the output narrower?
    """
    # TODO(two_dimensional_wrapper): return a MultiHeadAttentionWrapper with num_heads=2 whose output is [batch, n, 2].
    raise NotImplementedError("two_dimensional_wrapper: not started")


def gpt2_small_attention(dropout: float = 0.0) -> nn.Module:
    """A MultiHeadAttention the size of the smallest GPT-2's (book exercise 3.3): 768-dimensional
    inputs and outputs, 12 heads and a context of 1024 tokens, without qkv biases.

    How many parameters does it have? sum(p.numel() for p in model.parameters()) counts them;
    work out the same number from the layers' shapes.
    """
    # TODO(gpt2_small_attention): return your MultiHeadAttention with GPT-2 small's sizes: 768 in and out, 12 heads, 1024 tokens.
    raise NotImplementedError("gpt2_small_attention: not started")
