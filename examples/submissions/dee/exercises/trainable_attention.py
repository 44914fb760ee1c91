"""Scaled dot-product attention with trainable weights (book section 3.4).

Three matrices W_query, W_key, W_value [d_in, d_out] project every token x [d_in] to a
query, a key and a value [d_out]. Scores are query · key, scaled by 1/sqrt(d_k) before the
softmax, and the context vectors are the weighted sums of the values.
"""

import torch
from torch import Tensor, nn


def qkv_projections(
    x: Tensor, W_query: Tensor, W_key: Tensor, W_value: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(x @ W_query, x @ W_key, x @ W_value) for x [n, d_in]; each result is [n, d_out]."""
    ### BEGIN SOLUTION
    return x @ W_query, x @ W_key, x @ W_value
    ### END SOLUTION


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """softmax(scores / sqrt(d_k)) along the last dimension; each row sums to 1."""
    ### BEGIN SOLUTION
    return torch.softmax(scores / d_k**0.5, dim=-1)
    ### END SOLUTION


def self_attention(x: Tensor, W_query: Tensor, W_key: Tensor, W_value: Tensor) -> Tensor:
    """Context vectors softmax(Q Kᵀ / sqrt(d_k)) V for x [n, d_in]; returns [n, d_out]."""
    ### BEGIN SOLUTION
    queries, keys, values = qkv_projections(x, W_query, W_key, W_value)  # (n, d_out) each
    scores = queries @ keys.transpose(-2, -1)  # (n, n)
    weights = scaled_attention_weights(scores, keys.shape[-1])  # (n, n)
    return weights @ values  # (n, d_out)
    ### END SOLUTION


class SelfAttention_v1(nn.Module):
    """Self-attention with its weights as nn.Parameter matrices [d_in, d_out].

    Create W_query, W_key and W_value, in that order, each as nn.Parameter(torch.rand(d_in, d_out)),
    so that torch.manual_seed(123) gives the book's numbers.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        ### BEGIN SOLUTION
        return self_attention(x, self.W_query, self.W_key, self.W_value)
        ### END SOLUTION


class SelfAttention_v2(nn.Module):
    """Self-attention with nn.Linear projections W_query, W_key, W_value (created in that order).

    nn.Linear(d_in, d_out, bias=qkv_bias) stores its weight as [d_out, d_in] and computes x Wᵀ.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        ### BEGIN SOLUTION
        queries = self.W_query(x)  # (n, d_out)
        keys = self.W_key(x)  # (n, d_out)
        values = self.W_value(x)  # (n, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (n, n)
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)
        return weights @ values  # (n, d_out)
        ### END SOLUTION


def v1_state_from_v2(v2_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A SelfAttention_v1 state_dict that computes what the SelfAttention_v2 (qkv_bias=False) with
    state_dict `v2_state` computes (book exercise 3.1): W_query, W_key, W_value [d_in, d_out] from
    the layers' weights "W_query.weight", "W_key.weight", "W_value.weight" [d_out, d_in].

    Then sa_v1.load_state_dict(v1_state_from_v2(sa_v2.state_dict())) makes sa_v1(x) == sa_v2(x).

    >>> v1_state_from_v2({"W_query.weight": tensor([[1.0, 2.0]]),
    ...                   "W_key.weight": tensor([[3.0, 4.0]]),
    ...                   "W_value.weight": tensor([[5.0, 6.0]])})
    {'W_query': tensor([[1.], [2.]]),
     'W_key': tensor([[3.], [4.]]),
     'W_value': tensor([[5.], [6.]])}
    """
    ### BEGIN SOLUTION
    return {name: v2_state[f"{name}.weight"].T for name in ("W_query", "W_key", "W_value")}
    ### END SOLUTION
