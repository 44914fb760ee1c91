# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).
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
    # TODO(qkv_projections): multiply x by each of the three weight matrices.
    raise NotImplementedError("qkv_projections: not started")


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """softmax(scores / sqrt(d_k)) along the last dimension; each row sums to 1."""
    # TODO(scaled_attention_weights): divide the scores by sqrt(d_k), then softmax along the last dimension.
    raise NotImplementedError("scaled_attention_weights: not started")


def self_attention(x: Tensor, W_query: Tensor, W_key: Tensor, W_value: Tensor) -> Tensor:
    """Context vectors softmax(Q Kᵀ / sqrt(d_k)) V for x [n, d_in]; returns [n, d_out]."""
    # TODO(self_attention): project, score queries against keys, scale and softmax, then weight the values.
    raise NotImplementedError("self_attention: not started")


class SelfAttention_v1(nn.Module):
    """Self-attention with its weights as nn.Parameter matrices [d_in, d_out].

    Create W_query, W_key and W_value, in that order, each as nn.Parameter(torch.rand(d_in, d_out)),
    so that torch.manual_seed(123) gives the book's numbers.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        # TODO(SelfAttention_v1): create the three nn.Parameter(torch.rand(d_in, d_out)) matrices and compute self-attention.
        raise NotImplementedError("SelfAttention_v1: not started")

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        # TODO(SelfAttention_v1): create the three nn.Parameter(torch.rand(d_in, d_out)) matrices and compute self-attention.
        raise NotImplementedError("SelfAttention_v1: not started")


class SelfAttention_v2(nn.Module):
    """Self-attention with nn.Linear projections W_query, W_key, W_value (created in that order).

    nn.Linear(d_in, d_out, bias=qkv_bias) stores its weight as [d_out, d_in] and computes x Wᵀ.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        # TODO(SelfAttention_v2): create three nn.Linear(d_in, d_out, bias=qkv_bias) layers and compute self-attention.
        raise NotImplementedError("SelfAttention_v2: not started")

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        # TODO(SelfAttention_v2): create three nn.Linear(d_in, d_out, bias=qkv_bias) layers and compute self-attention.
        raise NotImplementedError("SelfAttention_v2: not started")


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
    # TODO(v1_state_from_v2): map each layer's weight [d_out, d_in] to SelfAttention_v1's parameter [d_in, d_out].
    raise NotImplementedError("v1_state_from_v2: not started")
