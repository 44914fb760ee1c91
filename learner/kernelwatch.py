"""Off-limits calls recorded below Python, at torch's dispatcher.

install() replaces, through torch.library, the kernels of every aten operator that computes a
softmax or an attention on CPU (the list below comes from reading the registrations:
torch._C._dispatch_get_all_op_names() and _dispatch_dump). Each replacement counts its call in
a shared memory page and then computes the same result from other aten operators (amax, exp,
sum, matmul), so torch's autograd formulas stay the original ones. Because the dispatcher is
below Python and process-wide, a call is counted from any thread, under torch.inference_mode,
through any composite (F.cross_entropy -> _log_softmax, sdpa's math path -> _safe_softmax ->
_softmax), and from a forked child, whose page is the same (MAP_SHARED). Student code cannot
undo the registrations without torch.library or torch._C, which the source scan forfeits.

Not covered (CPU only): CUDA, sparse, nested and quantized kernels; the kit grades dense CPU
tensors.

    install(); fresh()            # once in the zygote, then once per worker before student code
    with scoped(): ...            # elsewhere (make check): torch's own kernels back afterwards
    before = snapshot(); ...; recorded(before, ["softmax"])  # -> [NAMES["_softmax"]], or []

In the grader's workers the counters are only the worker's own first line: each counted call
also writes one byte (the operator's index) to a pipe whose read end the grader holds
(witness), and the worker brackets every call with sealed markers (mark). What reached the pipe
cannot be taken back by the code being graded, and the grader's verdict comes from it
(grading/evidence.py), not from anything the worker says.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

SOFTMAX = ("softmax",)
BOTH = ("softmax", "fused_attention")  # an attention kernel computes a softmax too
# aten operator -> the off-limits groups a call of it counts against.
OPS: dict[str, tuple[str, ...]] = {
    "_softmax": SOFTMAX,  # torch.softmax, F.softmax, nn.Softmax, _safe_softmax, softmin, ...
    "_log_softmax": SOFTMAX,  # log_softmax in any form, F.cross_entropy, F.nll_loss's input
    "_masked_softmax": SOFTMAX,  # the fast paths of nn.MultiheadAttention and TransformerEncoder
    "scaled_dot_product_attention": BOTH,  # a composite: every backend it may choose
    "_scaled_dot_product_attention_math": BOTH,
    "_scaled_dot_product_flash_attention_for_cpu": BOTH,
    "_native_multi_head_attention": BOTH,
    "_transformer_encoder_layer_fwd": BOTH,
    # Python-level: nn.MultiheadAttention's ordinary path has no aten operator of its own
    "multi_head_attention_forward": BOTH,
}
# What a student reads when one of them was called during an exercise that forbids it.
NAMES: dict[str, str] = {
    "_softmax": "torch's softmax kernel (which torch.softmax, F.softmax, nn.Softmax run)",
    "_log_softmax": "torch's log_softmax kernel (which log_softmax and F.cross_entropy run)",
    "_masked_softmax": "torch's masked softmax kernel",
    "scaled_dot_product_attention": "F.scaled_dot_product_attention (it computes a softmax)",
    "_scaled_dot_product_attention_math": "torch's scaled dot-product attention kernel",
    "_scaled_dot_product_flash_attention_for_cpu": "torch's flash attention kernel",
    "_native_multi_head_attention": "nn.MultiheadAttention's fused kernel",
    "_transformer_encoder_layer_fwd": "nn.TransformerEncoderLayer's fused kernel",
    "multi_head_attention_forward": "nn.MultiheadAttention (F.multi_head_attention_forward)",
}
_SLOT = 8  # bytes per counter
_counts: Any = None  # memoryview of unsigned 64-bit counters, one per OPS entry
_library: Any = None  # the torch.library.Library holding the registrations (kept alive)
_INDEX = {name: i for i, name in enumerate(OPS)}
assert set(NAMES) == set(OPS)
# The record a worker writes to the grader's pipe: one byte per counted call (its OPS index),
# and around each call OPEN or CLOSE + the worker's 16-byte seal + the call's number (4 bytes,
# little-endian). Each write is one write(2) under PIPE_BUF bytes, so none interleaves another.
OPEN, CLOSE = 0xFE, 0xFF
SEAL_BYTES, SEQ_BYTES = 16, 4
_witness: tuple[int, bytes] | None = None  # (the pipe's write end, the seal)


def fresh() -> None:
    """New counters, shared with the processes this one forks from now on (not with those it
    forked before: a zygote's workers each call this, so siblings never see each other)."""
    global _counts
    page = mmap.mmap(-1, _SLOT * len(OPS), flags=mmap.MAP_SHARED)
    _counts = memoryview(page).cast("Q")


def witness(fd: int, seal: bytes) -> None:
    """From now on, write every counted call to `fd` too, and let mark() seal with `seal`."""
    global _witness
    _witness = (fd, bytes(seal))


def mark(kind: int, seq: int) -> None:
    """Write the OPEN or CLOSE marker of call `seq` to the witness pipe (if there is one)."""
    if _witness is not None:
        _record(bytes((kind,)) + _witness[1] + seq.to_bytes(SEQ_BYTES, "little"))


def _record(data: bytes) -> None:
    assert _witness is not None
    with contextlib.suppress(OSError):  # a pipe closed or replaced shows as a missing marker
        os.write(_witness[0], data)


def _count(op: str) -> None:
    i = _INDEX[op]
    _counts[i] = (_counts[i] + 1) & 0xFFFFFFFFFFFFFFFF  # not atomic: any nonzero count is evidence
    if _witness is not None:
        _record(bytes((i,)))


def snapshot() -> tuple[int, ...]:
    """The counters now (zeros before install)."""
    return tuple(_counts) if _counts is not None else (0,) * len(OPS)


def recorded(before: tuple[int, ...], groups: Iterable[str]) -> list[str]:
    """The watched operators of `groups` called since `before`, in words (NAMES)."""
    wanted = set(groups)
    now = snapshot()
    return [
        NAMES[op]
        for op, i in _INDEX.items()
        if now[i] != before[i] and wanted.intersection(OPS[op])
    ]


def installed() -> bool:
    return _library is not None


# ---- the replacement kernels: the same results from other aten operators --------------------


def _shifted(x: Any, dim: int) -> Any:
    """x minus its max along dim (a row of -inf or +inf keeps torch's nan)."""
    import torch

    top = x.amax(dim, keepdim=True)
    return x - torch.where(torch.isfinite(top), top, torch.zeros_like(top))


def _softmax_of(x: Any, dim: int) -> Any:
    e = _shifted(x, dim).exp()
    return e / e.sum(dim, keepdim=True)


def _softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    _count("_softmax")
    out = _softmax_of(x.float() if half_to_float else x, dim)
    return out


def _log_softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    _count("_log_softmax")
    s = _shifted(x.float() if half_to_float else x, dim)
    return s - s.exp().sum(dim, keepdim=True).log()


def _masked_softmax(x: Any, mask: Any, dim: Any = None, mask_type: Any = None) -> Any:
    _count("_masked_softmax")
    dim = x.dim() - 1 if dim is None else dim
    if mask_type == 1 and mask.dim() == 2 and x.dim() == 4:  # key padding [B, L]
        mask = mask[:, None, None, :]
    mask = mask.bool().expand_as(x)
    out = _softmax_of(x.masked_fill(mask, -math.inf), dim)
    return out.masked_fill(mask, 0.0)  # a fully masked row is 0, as torch's kernel gives


def _attention(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    dropout_mask: Any = None,
    scale: Any = None,
    enable_gqa: bool = False,
) -> tuple[Any, Any]:
    """Scaled dot-product attention as torch's math path computes it: (output, weights)."""
    import torch

    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    if enable_gqa and q.dim() >= 3 and k.size(-3) != q.size(-3):
        k = k.repeat_interleave(q.size(-3) // k.size(-3), -3)
        v = v.repeat_interleave(q.size(-3) // v.size(-3), -3)
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        n, m = q.size(-2), k.size(-2)
        future = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, -math.inf)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, -math.inf)
        else:
            scores = scores + attn_mask
    weights = _softmax_of(scores, -1)
    weights = torch.nan_to_num(weights, nan=0.0)  # a fully masked row: _safe_softmax gives 0
    if dropout_p > 0.0:
        if dropout_mask is not None:
            weights = weights.masked_fill(~dropout_mask, 0.0) / (1.0 - dropout_p)
        else:
            weights = torch.nn.functional.dropout(weights, dropout_p, True)
    return weights @ v, weights


def _sdpa(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: Any = None,
    enable_gqa: bool = False,
) -> Any:
    _count("scaled_dot_product_attention")
    return _attention(q, k, v, attn_mask, dropout_p, is_causal, None, scale, enable_gqa)[0]


def _sdpa_math(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    dropout_mask: Any = None,
    *,
    scale: Any = None,
    enable_gqa: bool = False,
) -> tuple[Any, Any]:
    _count("_scaled_dot_product_attention_math")
    return _attention(q, k, v, attn_mask, dropout_p, is_causal, dropout_mask, scale, enable_gqa)


def _sdpa_flash_cpu(
    q: Any,
    k: Any,
    v: Any,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    attn_mask: Any = None,
    scale: Any = None,
) -> tuple[Any, Any]:
    import torch

    _count("_scaled_dot_product_flash_attention_for_cpu")
    out, _ = _attention(q, k, v, attn_mask, dropout_p, is_causal, None, scale)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        future = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, -math.inf)
    return out, torch.logsumexp(scores, -1).float()


def _refused(op: str) -> Any:
    def kernel(*args: Any, **kwargs: Any) -> Any:
        _count(op)
        raise RuntimeError(
            f"torch's fused {op} kernel is not available here: nn.MultiheadAttention and "
            "nn.TransformerEncoderLayer run their ordinary path instead"
        )

    return kernel


_undo: list[Callable[[], None]] = []  # how to put torch back (scoped use only)


def install() -> None:
    """Register the replacement kernels for the rest of the process and start counting (the
    zygote, before any worker is forked: student code never runs without them)."""
    global _library
    if _library is not None:
        return
    import torch

    if _counts is None:
        fresh()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # Their fast paths call the two fused kernels we refuse; the ordinary path computes the same.
    torch.backends.mha.set_fastpath_enabled(False)
    _undo.append(lambda: torch.backends.mha.set_fastpath_enabled(fastpath))
    lib = torch.library.Library("aten", "IMPL")
    kernels = {
        "_softmax": (_softmax, "CPU"),
        "_log_softmax": (_log_softmax, "CPU"),
        "_masked_softmax": (_masked_softmax, "CPU"),
        # at the composite's own key, so that autograd runs through what it computes
        "scaled_dot_product_attention": (_sdpa, "CompositeImplicitAutograd"),
        "_scaled_dot_product_attention_math": (_sdpa_math, "CompositeImplicitAutograd"),
        "_scaled_dot_product_flash_attention_for_cpu": (_sdpa_flash_cpu, "CPU"),
        "_native_multi_head_attention": (_refused("_native_multi_head_attention"), "CPU"),
        "_transformer_encoder_layer_fwd": (_refused("_transformer_encoder_layer_fwd"), "CPU"),
    }
    assert set(kernels) | {"multi_head_attention_forward"} == set(OPS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": we mean it
        for op, (kernel, key) in kernels.items():
            lib.impl(op, kernel, key)
    _library = lib
    _count_python_mha()


@contextlib.contextmanager
def scoped() -> Iterator[None]:
    """The kernels for the block only, unless install() made them permanent: `make check` and
    the kit's own tests then get torch's own kernels back (bit for bit) after each watch."""
    global _library
    if _library is not None:
        yield
        return
    install()
    try:
        yield
    finally:
        lib, _library = _library, None
        lib._destroy()  # torch.library's own way to drop a Library's registrations
        while _undo:
            _undo.pop()()


def _count_python_mha() -> None:
    """nn.MultiheadAttention (and TransformerEncoderLayer's self_attn) call this function by its
    module attribute: counted here, in every thread. Putting the original back needs its
    closure or the module by another route, which the source scan forfeits."""
    import torch.nn.functional as F  # noqa: N812

    original = F.multi_head_attention_forward

    def multi_head_attention_forward(*args: Any, **kwargs: Any) -> Any:
        _count("multi_head_attention_forward")
        return original(*args, **kwargs)

    F.multi_head_attention_forward = multi_head_attention_forward
    _undo.append(lambda: setattr(F, "multi_head_attention_forward", original))
