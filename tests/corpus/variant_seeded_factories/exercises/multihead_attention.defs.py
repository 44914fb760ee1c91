import torch
from torch import nn


def two_dimensional_wrapper(d_in: int, context_length: int, dropout: float) -> nn.Module:
    torch.manual_seed(123)
    return MultiHeadAttentionWrapper(d_in, 1, context_length, dropout, num_heads=2)  # noqa: F821


def gpt2_small_attention(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(123)
    mha = MultiHeadAttention(768, 768, 1024, dropout, num_heads=12)  # noqa: F821
    print(sum(p.numel() for p in mha.parameters()), "parameters")
    return mha
