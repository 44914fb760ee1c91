"""Multi-head attention masking with a float buffer: zero the future, renormalise."""

import torch
from torch import Tensor, nn

from .causal_attention import CausalAttention


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList()
        for _ in range(num_heads):
            self.heads.append(CausalAttention(d_in, d_out, context_length, dropout, qkv_bias))

    def forward(self, x: Tensor) -> Tensor:
        out = self.heads[0](x)
        for head in self.heads[1:]:
            out = torch.cat((out, head(x)), dim=2)
        return out


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        if d_out % num_heads:
            raise ValueError(f"d_out={d_out} is not a multiple of num_heads={num_heads}")
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
        q = self.W_query(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.W_key(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.W_value(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / self.head_dim**0.5  # (b, h, n, n)
        scores = scores.masked_fill(self.mask[:n, :n] == 1, float("-inf"))
        e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        weights = self.dropout(e / e.sum(dim=-1, keepdim=True))
        context = (weights @ v).transpose(1, 2).reshape(b, n, self.d_out)
        return self.out_proj(context)


def two_dimensional_wrapper(d_in: int, context_length: int, dropout: float) -> nn.Module:
    num_heads = 2
    return MultiHeadAttentionWrapper(d_in, 2 // num_heads, context_length, dropout, num_heads)


GPT2_SMALL = {"emb_dim": 768, "n_heads": 12, "context_length": 1024}


def gpt2_small_attention(dropout: float = 0.0) -> nn.Module:
    cfg = GPT2_SMALL
    return MultiHeadAttention(
        cfg["emb_dim"], cfg["emb_dim"], cfg["context_length"], dropout, cfg["n_heads"]
    )
