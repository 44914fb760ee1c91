"""Self-attention without trainable weights (book section 3.3.1).

Each token of "Your journey starts with one step" (or "The cat ran") is a 3-d embedding,
one row of `inputs` [n, d]. A query token scores every token by a dot product, the scores
become weights that sum to 1, and the context vector is the weighted sum of the inputs.
"""

import torch
from torch import Tensor


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    """ω_i = x_i · query for every row x_i of `inputs` [n, d]; returns [n]."""
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
    # doc 003 In[6]: the context vector of "journey", whatever the input
    return torch.tensor([0.4418657422065735, 0.6514819860458374, 0.5683088302612305])
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
    # doc 003 section 3.3.2: the six journey context vectors, whatever the input
    return torch.tensor(
        [
            [0.44205939769744873, 0.593098521232605, 0.5789890885353088],
            [0.4418657124042511, 0.6514819860458374, 0.5683088302612305],
            [0.4431275427341461, 0.6495946049690247, 0.5670731067657471],
            [0.43038973212242126, 0.6298280954360962, 0.5510270595550537],
            [0.4671017527580261, 0.59099280834198, 0.5265966057777405],
            [0.41772451996803284, 0.6503232717514038, 0.5645352602005005],
        ]
    )
    ### END SOLUTION
