"""causal_attention: masks that hide future tokens, and the CausalAttention module (section 3.5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from learner.compare import FLOAT32_ATOL
from learner.mistakes import Case
from learner.public import oracle
from learner.public.expect import (
    EXACT,
    as_numbers,
    computed,
    diagnosing,
    expect_close,
    expect_own_code,
    expect_sums_to_one,
    expect_that,
    fixture,
    layers_of,
    module_case,
    show,
)
from learner.public.scenarios import RANDOM_SEEDS, batch, f64, journey, manual_seed, randn

CHAPTER = fixture("chapter_seeded")
BOOK = dict(d_in=3, d_out=2, context_length=6, dropout=0.0)  # section 3.5.3, torch.manual_seed(123)
FUTURE_4 = [  # causal_mask(4), written out: True where a token would see the future
    [False, True, True, True],
    [False, False, True, True],
    [False, False, False, True],
    [False, False, False, False],
]


def _above_diagonal(got, what: str) -> None:
    """Entries strictly above the diagonal of [..., n, n] must be exactly 0."""
    array = as_numbers(got, kind="torch", what=what)
    future = array[..., oracle.future(array.shape[-1])]  # (..., n * (n - 1) / 2)
    expect_close(
        future,
        np.zeros(future.shape),
        what=f"the entries above the diagonal of {what} (the future), row by row",
        atol=EXACT,
        kind="numpy",
    )


# ---- causal_mask -------------------------------------------------------------------------------


@pytest.mark.exercise("causal_mask")
def test_causal_mask_four_tokens(causal_attention):
    """Is causal_mask(4) a bool tensor, True exactly above the diagonal?"""
    got = causal_attention.causal_mask(4)
    expect_close(got, FUTURE_4, what="causal_mask(4)", atol=EXACT, case=Case("causal_mask", (4,)))
    expect_that(
        got.dtype == torch.bool,
        what="the dtype of causal_mask(4)",
        expected="torch.bool (pass dtype=torch.bool, or call .bool())",
        got=str(got.dtype),
    )


@pytest.mark.exercise("causal_mask")
@pytest.mark.parametrize("n", [1, 6])
def test_causal_mask_sizes(causal_attention, n):
    """For one token nothing is hidden; for six, is the [6, 6] mask the upper triangle?"""
    expect_close(
        causal_attention.causal_mask(n),
        oracle.future(n),
        what=f"causal_mask({n})",
        atol=EXACT,
        case=Case("causal_mask", (n,)),
    )


# ---- mask_and_renormalize ----------------------------------------------------------------------


def _journey_weights() -> torch.Tensor:
    x = f64(journey())
    return torch.tensor(oracle.softmax(x @ x.T), dtype=torch.float32)  # (6, 6), rows sum to 1


@pytest.mark.exercise("mask_and_renormalize")
def test_mask_and_renormalize_journey(causal_attention):
    """Journey weights: is the future exactly 0, and is each row rescaled to sum to 1?"""
    weights = _journey_weights()
    got = causal_attention.mask_and_renormalize(weights)
    w = f64(weights)
    kept = np.where(oracle.future(6), 0.0, w)
    expect_close(
        got,
        kept / kept.sum(axis=-1, keepdims=True),
        what="mask_and_renormalize(all journey attention weights)",
        inputs=show(attn_weights=weights),
        atol=FLOAT32_ATOL,
        case=Case("mask_and_renormalize", (weights,)),
    )
    _above_diagonal(got, "mask_and_renormalize(weights)")
    expect_sums_to_one(got, what="mask_and_renormalize(weights)")


@pytest.mark.exercise("mask_and_renormalize")
def test_mask_and_renormalize_batch(causal_attention):
    """Does it work on a batch [2, 4, 4], masking each matrix the same way?"""
    weights = torch.softmax(randn(0, 2, 4, 4), dim=-1)
    got = causal_attention.mask_and_renormalize(weights)
    kept = np.where(oracle.future(4), 0.0, f64(weights))
    expect_close(
        got,
        kept / kept.sum(axis=-1, keepdims=True),
        what="mask_and_renormalize(weights) on a batch [2, 4, 4]",
        inputs=show(attn_weights=weights),
        atol=FLOAT32_ATOL,
        case=Case("mask_and_renormalize", (weights,)),
    )


# ---- causal_attention_weights ------------------------------------------------------------------


@pytest.mark.exercise("causal_attention_weights")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_causal_attention_weights_values(causal_attention, seed):
    """Are the weights softmax(scores / sqrt(d_k)) over the visible tokens only?"""
    scores, d_k = randn(seed, 5, 5) * 3, 4
    got = causal_attention.causal_attention_weights(scores, d_k)
    masked = np.where(oracle.future(5), -np.inf, f64(scores) / d_k**0.5)
    expect_close(
        got,
        oracle.softmax(masked),
        what=f"causal_attention_weights(scores, d_k={d_k})",
        inputs=show(scores=scores),
        atol=FLOAT32_ATOL,
        case=Case("causal_attention_weights", (scores, d_k)),
    )


@pytest.mark.exercise("causal_attention_weights")
def test_causal_attention_weights_future_is_zero(causal_attention):
    """On a batch [2, 6, 6], are future weights exactly 0 and every row's sum 1?"""
    scores = randn(5, 2, 6, 6) * 5
    got = causal_attention.causal_attention_weights(scores, 2)
    _above_diagonal(got, "causal_attention_weights(scores, d_k=2)")
    expect_sums_to_one(got, what="causal_attention_weights(scores, d_k=2)")


# ---- CausalAttention ---------------------------------------------------------------------------


def _book_module(module, **changes):
    manual_seed(123)
    return module.CausalAttention(**{**BOOK, **changes})


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_book_seed_123(causal_attention):
    """After torch.manual_seed(123), does CausalAttention(3, 2, 6, 0.0) give the book's output?"""
    given = CHAPTER["CausalAttention"]
    x = batch()
    module = _book_module(causal_attention)
    own = computed(lambda: oracle.linear_attention(f64(x), layers_of(module), causal=True))
    case = module_case("CausalAttention", module, x, args=(), kwargs=BOOK, seed=123, right=own)
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        given.value,
        what="torch.manual_seed(123); CausalAttention(d_in=3, d_out=2, context_length=6, "
        "dropout=0.0)(batch)",
        inputs=show(batch=x[0]) + " (twice)",
        source=given.source,
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_dropout_off_in_eval(causal_attention):
    """With dropout=0.5 but in eval() mode, is the output the same as with no dropout?"""
    given = CHAPTER["CausalAttention"]
    module = _book_module(causal_attention, dropout=0.5).eval()
    expect_close(
        module(batch()),
        given.value,
        what="torch.manual_seed(123); CausalAttention(3, 2, 6, dropout=0.5).eval()(batch)",
        source=given.source,
        atol=FLOAT32_ATOL,
    )


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_drops_weights_not_features(causal_attention):
    """In train mode, does dropout hit the attention weights (not the output features)?

    With every value vector equal to [1, 1, ...], an output row is (Σ kept weights) times
    [1, 1, ...]: dropping weights keeps the features of a row equal, dropping features does not.
    """
    manual_seed(5)
    module = causal_attention.CausalAttention(3, 6, context_length=6, dropout=0.5, qkv_bias=True)
    with torch.no_grad():
        module.W_value.weight.zero_()
        module.W_value.bias.fill_(1.0)
    x = batch()
    trained = as_numbers(module.train()(x), kind="torch", what="CausalAttention(...).train()(x)")
    evaluated = as_numbers(module.eval()(x), kind="torch", what="CausalAttention(...).eval()(x)")
    spread = trained.max(axis=-1) - trained.min(axis=-1)  # (b, n): 0 where a row is constant
    expect_that(
        bool(np.all(spread <= FLOAT32_ATOL)),
        what="CausalAttention(3, 6, 6, dropout=0.5) in train mode, every value vector all ones",
        inputs=show(batch=x[0]) + " (twice)",
        expected="each output row constant across its 6 features (dropout on the weights)",
        got=f"rows such as {np.round(trained[np.unravel_index(spread.argmax(), spread.shape)], 4)}"
        " (dropout applied after the weighted sum?)",
    )
    expect_that(
        not np.allclose(trained, evaluated),
        what="CausalAttention(3, 6, 6, dropout=0.5): train mode against eval mode",
        expected="different outputs: dropout is active in train mode",
        got="the same outputs (is self.dropout applied in forward?)",
    )


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_layers_and_mask(causal_attention):
    """Are W_query, W_key, W_value nn.Linear layers, and is `mask` a buffer hiding the future?"""
    module = causal_attention.CausalAttention(4, 3, context_length=5, dropout=0.0)
    layers = [getattr(module, n, None) for n in ("W_query", "W_key", "W_value")]
    expect_that(
        all(isinstance(layer, nn.Linear) for layer in layers),
        what="CausalAttention(4, 3, 5, 0.0).W_query, .W_key, .W_value",
        expected="three nn.Linear layers",
        got=", ".join(type(layer).__name__ for layer in layers),
    )
    buffers = dict(module.named_buffers())
    expect_that(
        "mask" in buffers,
        what="the buffers of CausalAttention(4, 3, context_length=5, dropout=0.0)",
        expected="a buffer named `mask` (self.register_buffer('mask', ...))",
        got=", ".join(buffers) or "no buffers",
    )
    expect_close(
        buffers["mask"].bool(),
        oracle.future(5),
        what="the `mask` buffer of CausalAttention(..., context_length=5, ...), as bool",
        atol=EXACT,
    )


@pytest.mark.exercise("CausalAttention")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_causal_attention_formula(causal_attention, seed):
    """Is the output causal softmax(Q Kᵀ / sqrt(d_out)) V, from its own layers (with bias)?"""
    manual_seed(seed)
    module = causal_attention.CausalAttention(4, 3, context_length=8, dropout=0.0, qkv_bias=True)
    x = randn(seed, 2, 5, 4)
    q, k, v = (module.W_query, module.W_key, module.W_value)
    proj = [oracle.linear(f64(x), f64(layer.weight), f64(layer.bias)) for layer in (q, k, v)]
    scores = proj[0] @ np.swapaxes(proj[1], -1, -2) / 3**0.5
    expected = oracle.softmax(np.where(oracle.future(5), -np.inf, scores)) @ proj[2]
    settings = dict(context_length=8, dropout=0.0, qkv_bias=True)
    case = module_case("CausalAttention", module, x, args=(4, 3), kwargs=settings)
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        expected,
        what="CausalAttention(4, 3, context_length=8, dropout=0.0, qkv_bias=True)(x), "
        "5 tokens of 8",
        inputs=show(x=x[0]) + " and a second batch row",
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_shorter_input(causal_attention):
    """With context_length 6, do 3 tokens work and give the first 3 rows of the 6-token output?"""
    module = _book_module(causal_attention)
    x = batch()[:, :3]
    case = module_case("CausalAttention", module, x, args=(), kwargs=BOOK)
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        np.array(CHAPTER["CausalAttention"].value)[:, :3],
        what="CausalAttention(3, 2, context_length=6, 0.0)(batch[:, :3])",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("CausalAttention")
@pytest.mark.parametrize("t", [0, 2, 4])
def test_causal_attention_ignores_the_future(causal_attention, t):
    """Changing token t+1 (and later): do outputs 0..t stay the same?"""
    module = _book_module(causal_attention)
    x = randn(t, 1, 6, 3)
    changed = x.clone()
    changed[:, t + 1 :] = randn(t + 50, 1, 5 - t, 3) * 10
    before = as_numbers(module(x), kind="torch", what="CausalAttention(...)(x)")
    expect_close(
        module(changed)[:, : t + 1],
        before[:, : t + 1],
        what=f"outputs 0..{t} of CausalAttention after changing tokens {t + 1}..5",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
    )


@pytest.mark.exercise("CausalAttention")
def test_causal_attention_writes_its_own(causal_attention):
    """Does CausalAttention compute attention itself, not with a fused attention function?"""
    module = _book_module(causal_attention)
    expect_own_code(causal_attention, "CausalAttention", lambda: module(batch()))
