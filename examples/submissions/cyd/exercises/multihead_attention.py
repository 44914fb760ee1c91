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
        ### BEGIN SOLUTION
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
            for _ in range(num_heads)
        )
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> [batch, n, d_out * num_heads]."""
        ### BEGIN SOLUTION
        return torch.cat([head(x) for head in self.heads], dim=-1)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), 1)
        )
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> [batch, n, d_out]."""
        ### BEGIN SOLUTION
        b, num_tokens, _ = x.shape

        def split_heads(t: Tensor) -> Tensor:
            t = t.view(b, num_tokens, self.num_heads, self.head_dim)  # (b, n, h, head_dim)
            return t.transpose(1, 2)  # (b, h, n, head_dim)

        queries = split_heads(self.W_query(x))
        keys = split_heads(self.W_key(x))
        values = split_heads(self.W_value(x))
        scores = queries @ keys.transpose(2, 3)  # (b, h, n, n)
        future = self.mask.bool()[:num_tokens, :num_tokens]  # (n, n)
        scores = scores.masked_fill(future, -torch.inf)
        weights = torch.softmax(scores / self.head_dim**0.5, dim=-1)
        weights = self.dropout(weights)
        context = (weights @ values).transpose(1, 2)  # (b, n, h, head_dim)
        context = context.contiguous().view(b, num_tokens, self.d_out)  # (b, n, d_out)
        return self.out_proj(context)
        ### END SOLUTION


def two_dimensional_wrapper(d_in: int, context_length: int, dropout: float) -> nn.Module:
    """A MultiHeadAttentionWrapper with num_heads=2 whose context vectors are 2-dimensional
    (book exercise 3.2): forward(x [batch, n, d_in]) -> [batch, n, 2]. Build it from your class
    above: which of its arguments makes the output narrower?
    """
    ### BEGIN SOLUTION
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)
    ### END SOLUTION


def gpt2_small_attention(dropout: float = 0.0) -> nn.Module:
    """A MultiHeadAttention the size of the smallest GPT-2's (book exercise 3.3): 768-dimensional
    inputs and outputs, 12 heads and a context of 1024 tokens, without qkv biases.

    How many parameters does it have? sum(p.numel() for p in model.parameters()) counts them;
    work out the same number from the layers' shapes.
    """
    ### BEGIN SOLUTION
    return MultiHeadAttention(768, 768, 1024, dropout, num_heads=12)
    ### END SOLUTION
