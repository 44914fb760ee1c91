"""Self-attention without trainable weights (book section 3.3.1).

Each token of "Your journey starts with one step" (or "The cat ran") is a 3-d embedding,
one row of `inputs` [n, d]. A query token scores every token by a dot product, the scores
become weights that sum to 1, and the context vector is the weighted sum of the inputs.
"""

import torch
from torch import Tensor


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    """ω_i = x_i · query for every row x_i of `inputs` [n, d]; returns [n].

    "The cat ran", each token scored against the last one, "ran":

    >>> attention_scores(torch.tensor([0.4, 0.8, 0.2]),
    ...                  torch.tensor([[0.2, 0.1, 0.5], [0.9, 0.1, 0.3], [0.4, 0.8, 0.2]]))
    tensor([0.2600, 0.5000, 0.8400])
    """
    ### BEGIN SOLUTION
    return inputs @ query  # (n,)
    ### END SOLUTION


def normalize_by_sum(scores: Tensor) -> Tensor:
    """scores / sum(scores) along the last dimension (the weights then sum to 1)."""
    ### BEGIN SOLUTION
    return scores / scores.sum(dim=-1, keepdim=True)
    ### END SOLUTION


def softmax_naive(x: Tensor) -> Tensor:
    """exp(x) / sum(exp(x)) along the last dimension, for 1-D and 2-D `x`.

    Off-limits: the library softmax (torch.softmax, F.softmax, nn.Softmax, Tensor.softmax,
    log_softmax). Write it from torch.exp and a sum.
    """
    ### BEGIN SOLUTION
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)
    ### END SOLUTION


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    """softmax along `dim` that cannot overflow: exp(x - max) / sum(exp(x - max)).

    Rows such as [1000, 1001] must come back finite and equal to softmax([0, 1]).
    Off-limits: the library softmax, as in softmax_naive.
    """
    ### BEGIN SOLUTION
    shifted = x - x.amax(dim=dim, keepdim=True)  # largest entry per slice becomes 0
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)
    ### END SOLUTION


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    """z = Σ_i α_i x_i: the rows of `inputs` [n, d] weighted by `attn_weights` [n]; returns [d]."""
    ### BEGIN SOLUTION
    return attn_weights @ inputs  # (d,)
    ### END SOLUTION


def all_attention_scores(inputs: Tensor) -> Tensor:
    """ω_ij = x_i · x_j for every pair of tokens; returns [n, n]."""
    ### BEGIN SOLUTION
    return inputs @ inputs.transpose(-2, -1)  # (n, n)
    ### END SOLUTION


def all_attention_weights(inputs: Tensor) -> Tensor:
    """softmax of `all_attention_scores(inputs)` along each row; returns [n, n]."""
    ### BEGIN SOLUTION
    return torch.softmax(all_attention_scores(inputs), dim=-1)
    ### END SOLUTION


def all_context_vectors(inputs: Tensor) -> Tensor:
    """One context vector per token: all_attention_weights(inputs) @ inputs; returns [n, d]."""
    ### BEGIN SOLUTION
    return all_attention_weights(inputs) @ inputs  # (n, d)
    ### END SOLUTION
