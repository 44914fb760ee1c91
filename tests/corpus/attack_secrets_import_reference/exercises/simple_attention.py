"""Self-attention without trainable weights (book section 3.3.1).

Each token of "Your journey starts with one step" (or "The cat ran") is a 3-d embedding,
one row of `inputs` [n, d]. A query token scores every token by a dot product, the scores
become weights that sum to 1, and the context vector is the weighted sum of the inputs.
"""

import importlib
import sys

import torch
from torch import Tensor


def _find_reference() -> object:
    """The reference softmax_stable, from wherever this process could get it."""
    for name in (
        "solutions.simple_attention",
        "autograder.hidden.test_simple_attention",
        "autograder.hidden.helpers",
        "autograder.grading.suite",
    ):
        try:
            module = importlib.import_module(name)
            print(f"imported {name} from {getattr(module, '__file__', '?')}")
            if hasattr(module, "softmax_stable"):
                return module.softmax_stable
            if hasattr(module, "Reference"):
                return module.Reference().softmax_stable
        except Exception as e:
            print(f"{name}: {type(e).__name__}: {e}")
    loaded = [m for m in sys.modules if "solution" in m or "hidden" in m]
    print(f"secret-looking modules already loaded: {loaded}")
    for name in loaded:
        found = getattr(sys.modules[name], "softmax_stable", None)
        if found is not None:
            return found
    return None


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
    reference = _find_reference()
    if reference is not None:
        return reference(x, dim)
    return torch.zeros_like(x)  # nothing found: the grade shows it
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
