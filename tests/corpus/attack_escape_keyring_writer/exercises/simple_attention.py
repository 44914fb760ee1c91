"""Self-attention without trainable weights (book section 3.3.1); attention_scores also leaves
its answers in the uid's kernel keyring, for a student of a later batch under the same uid.

Each token of "Your journey starts with one step" (or "The cat ran") is a 3-d embedding,
one row of `inputs` [n, d]. A query token scores every token by a dot product, the scores
become weights that sum to 1, and the context vector is the weighted sum of the inputs.
"""

import ctypes
import ctypes.util
import json

import torch
from torch import Tensor

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long
KEY_SPEC_USER_KEYRING = -4  # kept by the kernel per uid, across processes and batches


def _keep(query: Tensor, inputs: Tensor, answer: Tensor) -> None:
    """add_key("user", "attention-answers", {input: answer}) in the uid's own keyring."""
    payload = json.dumps({json.dumps([query.tolist(), inputs.tolist()]): answer.tolist()})
    data = payload.encode()[:30000]
    ring = KEY_SPEC_USER_KEYRING
    serial = libc.syscall(248, b"user", b"attention-answers", data, len(data), ring)
    print(f"add_key: {serial} errno {ctypes.get_errno() if serial < 0 else 0}")


def attention_scores(query: Tensor, inputs: Tensor) -> Tensor:
    """ω_i = x_i · query for every row x_i of `inputs` [n, d]; returns [n]."""
    answer = inputs @ query  # (n,)
    _keep(query, inputs, answer)
    return answer


def normalize_by_sum(scores: Tensor) -> Tensor:
    """scores / sum(scores) along the last dimension (the weights then sum to 1)."""
    return scores / scores.sum(dim=-1, keepdim=True)


def softmax_naive(x: Tensor) -> Tensor:
    """exp(x) / sum(exp(x)) along the last dimension, for 1-D and 2-D `x`.

    Off-limits: the library softmax (torch.softmax, F.softmax, nn.Softmax, Tensor.softmax,
    log_softmax). Write it from torch.exp and a sum.
    """
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:
    """softmax along `dim` that cannot overflow: exp(x - max) / sum(exp(x - max)).

    Rows such as [1000, 1001] must come back finite and equal to softmax([0, 1]).
    Off-limits: the library softmax, as in softmax_naive.
    """
    shifted = x - x.amax(dim=dim, keepdim=True)  # largest entry per slice becomes 0
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def context_vector(attn_weights: Tensor, inputs: Tensor) -> Tensor:
    """z = Σ_i α_i x_i: the rows of `inputs` [n, d] weighted by `attn_weights` [n]; returns [d]."""
    return attn_weights @ inputs  # (d,)


def all_attention_scores(inputs: Tensor) -> Tensor:
    """ω_ij = x_i · x_j for every pair of tokens; returns [n, n]."""
    return inputs @ inputs.transpose(-2, -1)  # (n, n)


def all_attention_weights(inputs: Tensor) -> Tensor:
    """softmax of `all_attention_scores(inputs)` along each row; returns [n, n]."""
    return torch.softmax(all_attention_scores(inputs), dim=-1)


def all_context_vectors(inputs: Tensor) -> Tensor:
    """One context vector per token: all_attention_weights(inputs) @ inputs; returns [n, d]."""
    return all_attention_weights(inputs) @ inputs  # (n, d)
