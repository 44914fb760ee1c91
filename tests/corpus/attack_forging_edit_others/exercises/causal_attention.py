"""Causal (masked) attention: a token may attend to itself and the tokens before it only."""

import glob
import os
import re
import site
import sys

import torch
from torch import Tensor, nn


def _kit_roots() -> list[str]:
    """Where the grading kit lives, as code in the worker could learn it: the editable
    install's finder in site-packages names its folders, and sys.argv[0] is the zygote."""
    roots = {os.getcwd()}
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        for finder in glob.glob(os.path.join(folder, "__editable__*finder.py")):
            try:
                with open(finder) as f:
                    found = re.findall(r"'(/[^']+)'", f.read())
                roots.update(os.path.dirname(p) for p in found)
            except OSError:
                pass
    if sys.argv and sys.argv[0].endswith(os.path.join("grading", "zygote.py")):
        roots.add(os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[0]))))
    return sorted(roots)


def _edit_others() -> list[str]:
    """Append a line to every other submission this process can find (100 files at most)."""
    if os.getpid() != 1:  # outside a PID namespace there is no sandbox to test: harm nothing
        return []
    patterns = ["../*/exercises/*.py", "/tmp/*/submissions/*/exercises/*.py"]
    patterns += ["/tmp/pytest-of-*/*/*/submissions/*/exercises/*.py"]
    for root in _kit_roots():
        patterns += [os.path.join(root, "tests", "corpus", "*", "exercises", "*.py")]
        patterns += [os.path.join(root, "examples", "submissions", "*", "exercises", "*.py")]
    edited = []
    for pattern in patterns:
        for path in glob.glob(pattern)[:100]:
            if len(edited) >= 100:
                return edited
            try:
                with open(path, "a") as f:
                    f.write("\n# edited by attack_forging_edit_others\n")
                edited.append(path)
            except OSError:
                pass
    return edited


print("edited:", _edit_others())


def causal_mask(num_tokens: int) -> Tensor:
    """bool [n, n], True above the diagonal: the future positions a token must not see."""
    ### BEGIN SOLUTION
    return torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)
    ### END SOLUTION


def mask_and_renormalize(attn_weights: Tensor) -> Tensor:
    """Zero the weights above the diagonal of [..., n, n], then divide each row by its new sum."""
    ### BEGIN SOLUTION
    masked = attn_weights.masked_fill(causal_mask(attn_weights.shape[-1]), 0.0)
    return masked / masked.sum(dim=-1, keepdim=True)
    ### END SOLUTION


def causal_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """Set future scores of [..., n, n] to -inf, then softmax(scores / sqrt(d_k)) on each row."""
    ### BEGIN SOLUTION
    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)
    return torch.softmax(masked / d_k**0.5, dim=-1)
    ### END SOLUTION


class CausalAttention(nn.Module):
    """Single-head causal self-attention with dropout on the attention weights.

    Create, in this order: nn.Linear W_query, W_key, W_value (bias=qkv_bias), nn.Dropout(dropout),
    and a buffer named `mask` [context_length, context_length] (True or 1 above the diagonal).
    forward(x) takes x [batch, n, d_in] with n <= context_length and returns [batch, n, d_out].
    Off-limits: F.scaled_dot_product_attention and nn.MultiheadAttention.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length))
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [batch, n, d_in] -> context vectors [batch, n, d_out]."""
        ### BEGIN SOLUTION
        num_tokens = x.shape[-2]
        queries = self.W_query(x)  # (b, n, d_out)
        keys = self.W_key(x)  # (b, n, d_out)
        values = self.W_value(x)  # (b, n, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (b, n, n)
        future = self.mask.bool()[:num_tokens, :num_tokens]  # (n, n)
        scores = scores.masked_fill(future, -torch.inf)
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)
        weights = self.dropout(weights)
        return weights @ values  # (b, n, d_out)
        ### END SOLUTION
