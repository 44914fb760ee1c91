# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).
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
    # TODO(attention_scores): score every row of `inputs` against `query` with a dot product.
    raise NotImplementedError("attention_scores: not started")


def normalize_by_sum(scores: Tensor) -> Tensor:
    """scores / sum(scores) along the last dimension (the weights then sum to 1)."""
    # TODO(normalize_by_sum): divide the scores by their sum along the last dimension.
    raise NotImplementedError("normalize_by_sum: not started")


def softmax_naive(x: Tensor) -> Tensor:
    """exp(x) / sum(exp(x)) along the last dimension, for 1-D and 2-D `x`.

    Off-limits: the library softmax (torch.softmax, F.softmax, nn.Softmax, Tensor.softmax,
    log_softmax). Write it from torch.exp and a sum.
    """
    # TODO(softmax_naive): exponentiate, then divide by the sum of the exponentials along the last dimension.
    raise NotImplementedError("softmax_naive: not started")


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    """softmax along `dim` that cannot overflow: exp(x - max) / sum(exp(x - max)).

    Rows such as [1000, 1001] must come back finite and equal to softmax([0, 1]).
    Off-limits: the library softmax, as in softmax_naive.
    """
    # TODO(softmax_stable): subtract the max along `dim` before exponentiating, then normalise along `dim`.
    raise NotImplementedError("softmax_stable: not started")


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    """z = Σ_i α_i x_i: the rows of `inputs` [n, d] weighted by `attn_weights` [n]; returns [d]."""
    # TODO(context_vector): weight each row of `inputs` by its attention weight and add them up.
    raise NotImplementedError("context_vector: not started")


def all_attention_scores(inputs: Tensor) -> Tensor:
    """ω_ij = x_i · x_j for every pair of tokens; returns [n, n]."""
    # TODO(all_attention_scores): compute x_i · x_j for every pair of rows.
    raise NotImplementedError("all_attention_scores: not started")


def all_attention_weights(inputs: Tensor) -> Tensor:
    """softmax of `all_attention_scores(inputs)` along each row; returns [n, n]."""
    # TODO(all_attention_weights): softmax the all-pairs scores along each row.
    raise NotImplementedError("all_attention_weights: not started")


def all_context_vectors(inputs: Tensor) -> Tensor:
    """One context vector per token: all_attention_weights(inputs) @ inputs; returns [n, d]."""
    # TODO(all_context_vectors): weight the inputs by every row of the attention weights.
    raise NotImplementedError("all_context_vectors: not started")
