"""multihead_attention: stacked heads, then one projection split into heads (section 3.6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from learner.compare import FLOAT32_ATOL
from learner.public import oracle
from learner.public.expect import (
    EXACT,
    as_numbers,
    computed,
    diagnosing,
    expect_close,
    expect_own_code,
    expect_that,
    fixture,
    layers_of,
    module_case,
    show,
)
from learner.public.scenarios import RANDOM_SEEDS, batch, f64, manual_seed, randn

CHAPTER = fixture("chapter_seeded")
BOOK = dict(d_in=3, d_out=2, context_length=6, dropout=0.0, num_heads=2)  # torch.manual_seed(123)


def _book_module(module, cls: str):
    manual_seed(123)
    return getattr(module, cls)(**BOOK)


def _ignores_the_future(mha, what: str, t: int) -> None:
    x = randn(t, 2, 6, 3)
    changed = x.clone()
    changed[:, t + 1 :] = randn(t + 50, 2, 5 - t, 3) * 10
    before = as_numbers(mha(x), kind="torch", what=f"{what}(x)")
    expect_close(
        mha(changed)[:, : t + 1],
        before[:, : t + 1],
        what=f"outputs 0..{t} of {what} after changing tokens {t + 1}..5",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
    )


# ---- MultiHeadAttentionWrapper -----------------------------------------------------------------


@pytest.mark.exercise("MultiHeadAttentionWrapper")
def test_wrapper_book_seed_123(multihead_attention):
    """After torch.manual_seed(123), does the two-head wrapper give the book's [2, 6, 4] output?"""
    given = CHAPTER["MultiHeadAttentionWrapper"]
    x = batch()
    mha = _book_module(multihead_attention, "MultiHeadAttentionWrapper")
    own = computed(
        lambda: np.concatenate(
            [
                oracle.linear_attention(f64(x), layers_of(mha, f"heads.{i}."), causal=True)
                for i in range(len(mha.heads))
            ],
            axis=-1,
        )
    )
    case = module_case(
        "MultiHeadAttentionWrapper", mha, x, args=(), kwargs=BOOK, seed=123, right=own
    )
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        given.value,
        what="torch.manual_seed(123); MultiHeadAttentionWrapper(d_in=3, d_out=2, "
        "context_length=6, dropout=0.0, num_heads=2)(batch)",
        inputs=show(batch=x[0]) + " (twice)",
        source=given.source,
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttentionWrapper")
def test_wrapper_heads(multihead_attention):
    """Are the heads an nn.ModuleList `heads`, and is the output their concatenation?"""
    manual_seed(0)
    mha = multihead_attention.MultiHeadAttentionWrapper(4, 2, 5, 0.0, num_heads=3)
    heads = getattr(mha, "heads", None)
    expect_that(
        isinstance(heads, nn.ModuleList) and len(heads) == 3,
        what="MultiHeadAttentionWrapper(4, 2, 5, 0.0, num_heads=3).heads",
        expected="an nn.ModuleList of 3 heads (a plain list hides their parameters)",
        got=type(heads).__name__ + (f" of {len(heads)}" if heads is not None else ""),
    )
    x = randn(1, 2, 5, 4)
    expected = np.concatenate(
        [
            oracle.attention(
                f64(x), *(f64(getattr(h, n).weight).T for n in ("W_query", "W_key", "W_value")),
                causal=True,
            )
            for h in heads
        ],
        axis=-1,
    )  # (2, 5, 6)  # fmt: skip
    case = module_case(
        "MultiHeadAttentionWrapper", mha, x, args=(4, 2, 5, 0.0), kwargs={"num_heads": 3}
    )
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        expected,
        what="MultiHeadAttentionWrapper(4, 2, 5, 0.0, num_heads=3)(x), against its own heads",
        inputs=show(x=x[0]) + " and a second batch row",
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttentionWrapper")
def test_wrapper_shorter_input(multihead_attention):
    """With context_length 6, do 3 tokens work and give the first 3 rows of the 6-token output?"""
    mha = _book_module(multihead_attention, "MultiHeadAttentionWrapper")
    x = batch()[:, :3]
    case = module_case("MultiHeadAttentionWrapper", mha, x, args=(), kwargs=BOOK)
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        np.array(CHAPTER["MultiHeadAttentionWrapper"].value)[:, :3],
        what="MultiHeadAttentionWrapper(3, 2, context_length=6, 0.0, num_heads=2)(batch[:, :3])",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttentionWrapper")
@pytest.mark.parametrize("t", [1, 3])
def test_wrapper_ignores_the_future(multihead_attention, t):
    """Changing token t+1 (and later): do the wrapper's outputs 0..t stay the same?"""
    mha = _book_module(multihead_attention, "MultiHeadAttentionWrapper")
    _ignores_the_future(mha, "MultiHeadAttentionWrapper", t)


@pytest.mark.exercise("MultiHeadAttentionWrapper")
def test_wrapper_writes_its_own(multihead_attention):
    """Does the wrapper avoid fused attention (scaled_dot_product_attention, MultiheadAttention)?"""
    mha = _book_module(multihead_attention, "MultiHeadAttentionWrapper")
    expect_own_code(multihead_attention, "MultiHeadAttentionWrapper", lambda: mha(batch()))


# ---- MultiHeadAttention ------------------------------------------------------------------------


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_book_seed_123(multihead_attention):
    """After torch.manual_seed(123), does MultiHeadAttention give the book's [2, 6, 2] output?"""
    given = CHAPTER["MultiHeadAttention"]
    x = batch()
    mha = _book_module(multihead_attention, "MultiHeadAttention")
    own = computed(
        lambda: oracle.multi_head(
            f64(x),
            *(f64(getattr(mha, n).weight) for n in ("W_query", "W_key", "W_value", "out_proj")),
            f64(mha.out_proj.bias),
            num_heads=BOOK["num_heads"],
        )
    )
    case = module_case("MultiHeadAttention", mha, x, args=(), kwargs=BOOK, seed=123, right=own)
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        given.value,
        what="torch.manual_seed(123); MultiHeadAttention(d_in=3, d_out=2, context_length=6, "
        "dropout=0.0, num_heads=2)(batch)",
        inputs=show(batch=x[0]) + " (twice)",
        source=given.source,
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_rejects_uneven_heads(multihead_attention):
    """Is d_out = 3 with num_heads = 2 refused with a ValueError (or AssertionError)?"""
    try:
        multihead_attention.MultiHeadAttention(3, 3, 6, 0.0, num_heads=2)
    except (ValueError, AssertionError):
        return
    raise AssertionError(
        "MultiHeadAttention(d_in=3, d_out=3, context_length=6, dropout=0.0, num_heads=2)\n"
        "  expected: ValueError (or the book's assert), since 3 features cannot be split evenly"
        " into 2 heads\n"
        "  got:      a module, no error"
    )


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_layers_and_mask(multihead_attention):
    """Does it hold W_query, W_key, W_value, out_proj (nn.Linear) and a `mask` buffer?"""
    mha = multihead_attention.MultiHeadAttention(4, 6, 5, 0.0, num_heads=3)
    names = ("W_query", "W_key", "W_value", "out_proj")
    layers = {n: getattr(mha, n, None) for n in names}
    expect_that(
        all(isinstance(layer, nn.Linear) for layer in layers.values()),
        what="MultiHeadAttention(4, 6, 5, 0.0, num_heads=3): W_query, W_key, W_value, out_proj",
        expected="four nn.Linear layers",
        got=", ".join(f"{n}: {type(layer).__name__}" for n, layer in layers.items()),
    )
    buffers = dict(mha.named_buffers())
    expect_that(
        "mask" in buffers,
        what="the buffers of MultiHeadAttention(4, 6, context_length=5, 0.0, num_heads=3)",
        expected="a buffer named `mask` (self.register_buffer('mask', ...))",
        got=", ".join(buffers) or "no buffers",
    )
    expect_close(
        buffers["mask"].bool(),
        oracle.future(5),
        what="the `mask` buffer of MultiHeadAttention(..., context_length=5, ...), as bool",
        atol=EXACT,
    )


@pytest.mark.exercise("MultiHeadAttention")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_multihead_formula(multihead_attention, seed):
    """Three heads of 2 features on 5 tokens: is the output right, from its own layers?"""
    manual_seed(seed)
    mha = multihead_attention.MultiHeadAttention(4, 6, 8, 0.0, num_heads=3, qkv_bias=False)
    x = randn(seed, 2, 5, 4)
    expected = oracle.multi_head(
        f64(x),
        f64(mha.W_query.weight),
        f64(mha.W_key.weight),
        f64(mha.W_value.weight),
        f64(mha.out_proj.weight),
        f64(mha.out_proj.bias),
        num_heads=3,
    )
    case = module_case("MultiHeadAttention", mha, x, args=(4, 6, 8, 0.0), kwargs={"num_heads": 3})
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        expected,
        what="MultiHeadAttention(4, 6, context_length=8, 0.0, num_heads=3)(x), 5 tokens",
        inputs=show(x=x[0]) + " and a second batch row",
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_drops_weights_not_features(multihead_attention):
    """In train mode, does dropout hit each head's attention weights, not the merged features?

    With every value vector all ones and out_proj the identity, the features of one head in one
    row are (Σ kept weights of that head) each: equal when the weights are dropped.
    """
    manual_seed(5)
    mha = multihead_attention.MultiHeadAttention(3, 8, 6, 0.5, num_heads=2, qkv_bias=True)
    with torch.no_grad():
        mha.W_value.weight.zero_()
        mha.W_value.bias.fill_(1.0)
        mha.out_proj.weight.copy_(torch.eye(8))
        mha.out_proj.bias.zero_()
    x = batch()
    trained = as_numbers(mha.train()(x), kind="torch", what="MultiHeadAttention(...).train()(x)")
    evaluated = as_numbers(mha.eval()(x), kind="torch", what="MultiHeadAttention(...).eval()(x)")
    per_head = trained.reshape(*trained.shape[:-1], 2, 4)  # (b, n, heads, head_dim)
    spread = per_head.max(axis=-1) - per_head.min(axis=-1)  # (b, n, heads)
    expect_that(
        bool(np.all(spread <= FLOAT32_ATOL)),
        what="MultiHeadAttention(3, 8, 6, dropout=0.5, num_heads=2) in train mode, values all "
        "ones, out_proj the identity",
        inputs=show(batch=x[0]) + " (twice)",
        expected="within each head, the 4 features of a row equal (dropout on the weights)",
        got=f"a row {np.round(trained[np.unravel_index(spread.argmax(), spread.shape)[:2]], 4)}"
        " (dropout applied after the weighted sum?)",
    )
    expect_that(
        not np.allclose(trained, evaluated),
        what="MultiHeadAttention(3, 8, 6, dropout=0.5, num_heads=2): train against eval mode",
        expected="different outputs: dropout is active in train mode",
        got="the same outputs (is self.dropout applied in forward?)",
    )


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_shorter_input(multihead_attention):
    """With context_length 6, do 3 tokens work and give the first 3 rows of the 6-token output?"""
    mha = _book_module(multihead_attention, "MultiHeadAttention")
    x = batch()[:, :3]
    case = module_case("MultiHeadAttention", mha, x, args=(), kwargs=BOOK)
    with diagnosing(case):
        got = mha(x)
    expect_close(
        got,
        np.array(CHAPTER["MultiHeadAttention"].value)[:, :3],
        what="MultiHeadAttention(3, 2, context_length=6, 0.0, num_heads=2)(batch[:, :3])",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("MultiHeadAttention")
@pytest.mark.parametrize("t", [0, 2, 4])
def test_multihead_ignores_the_future(multihead_attention, t):
    """Changing token t+1 (and later): do outputs 0..t stay the same?"""
    mha = _book_module(multihead_attention, "MultiHeadAttention")
    _ignores_the_future(mha, "MultiHeadAttention", t)


@pytest.mark.exercise("MultiHeadAttention")
def test_multihead_writes_its_own(multihead_attention):
    """Does MultiHeadAttention compute attention itself, not with a fused attention function?"""
    mha = _book_module(multihead_attention, "MultiHeadAttention")
    expect_own_code(multihead_attention, "MultiHeadAttention", lambda: mha(batch()))


# ---- two_dimensional_wrapper (book exercise 3.2) -----------------------------------------------


@pytest.mark.exercise("two_dimensional_wrapper")
def test_two_dimensional_wrapper_keeps_two_heads(multihead_attention):
    """Is it a MultiHeadAttentionWrapper whose heads are two CausalAttention modules?"""
    model = multihead_attention.two_dimensional_wrapper(3, 6, 0.0)
    heads = getattr(model, "heads", [])
    expect_that(
        isinstance(model, multihead_attention.MultiHeadAttentionWrapper) and len(heads) == 2,
        what="two_dimensional_wrapper(3, 6, 0.0)",
        expected="a MultiHeadAttentionWrapper with num_heads=2",
        got=f"a {type(model).__name__} with {len(heads)} heads",
    )


@pytest.mark.exercise("two_dimensional_wrapper")
def test_two_dimensional_wrapper_output_is_two_dimensional(multihead_attention):
    """On the journey batch [2, 6, 3], is the output [2, 6, 2]: its two heads side by side?"""
    model = multihead_attention.two_dimensional_wrapper(3, 6, 0.0).eval()
    x = batch()
    out = model(x)
    got = as_numbers(out, kind="torch", what="two_dimensional_wrapper(3, 6, 0.0)(batch)")
    expect_that(
        got.shape == (2, 6, 2),
        what="two_dimensional_wrapper(3, 6, 0.0)(batch) for the journey batch [2, 6, 3]",
        expected="context vectors of 2 dimensions: [2, 6, 2]",
        got=f"{list(got.shape)}",
    )
    with torch.no_grad():
        heads = torch.cat([head(x) for head in model.heads], dim=-1)
    expect_close(
        out,
        heads.double().numpy(),
        what="two_dimensional_wrapper(3, 6, 0.0)(batch) against its own heads side by side",
        inputs=show(x=x[0]),
        atol=FLOAT32_ATOL,
    )


# ---- gpt2_small_attention (book exercise 3.3) --------------------------------------------------

GPT2_PARAMETERS = 4 * 768 * 768 + 768  # W_query, W_key, W_value, out_proj [768, 768]; out_proj.bias


@pytest.mark.exercise("gpt2_small_attention")
def test_gpt2_small_attention_sizes(multihead_attention):
    """Is it a MultiHeadAttention from 768 to 768 features with a mask for 1024 tokens?"""
    gpt2 = multihead_attention.gpt2_small_attention()
    layers = [getattr(gpt2, n, None) for n in ("W_query", "W_key", "W_value", "out_proj")]
    mask = getattr(gpt2, "mask", None)
    expect_that(
        isinstance(gpt2, multihead_attention.MultiHeadAttention)
        and all(isinstance(x, nn.Linear) and x.in_features == x.out_features == 768 for x in layers)
        and mask is not None
        and tuple(mask.shape) == (1024, 1024),
        what="gpt2_small_attention()",
        expected="a MultiHeadAttention(768, 768, context_length=1024, ...): W_query, W_key, "
        "W_value and out_proj nn.Linear(768, 768), mask [1024, 1024]",
        got=f"a {type(gpt2).__name__}: "
        + ", ".join(repr(x) for x in layers)
        + f", mask {None if mask is None else list(mask.shape)}",
    )


@pytest.mark.exercise("gpt2_small_attention")
def test_gpt2_small_attention_parameter_count(multihead_attention):
    """Does it have the 2,360,064 parameters of GPT-2 small's attention without qkv biases?"""
    gpt2 = multihead_attention.gpt2_small_attention()
    count = sum(p.numel() for p in gpt2.parameters())
    expect_that(
        count == GPT2_PARAMETERS,
        what="sum(p.numel() for p in gpt2_small_attention().parameters())",
        expected=f"{GPT2_PARAMETERS:,}: four [768, 768] weight matrices and out_proj's 768 biases",
        got=f"{count:,}",
    )


@pytest.mark.exercise("gpt2_small_attention")
def test_gpt2_small_attention_twelve_heads(multihead_attention):
    """On 3 tokens, is its output multi-head attention with 12 heads of 64 features each?"""
    gpt2 = multihead_attention.gpt2_small_attention().eval()
    x = randn(7, 1, 3, 768)
    with torch.no_grad():
        got = gpt2(x)
    (wq, _), (wk, _), (wv, _) = layers_of(gpt2)
    out_w, out_b = (f64(t) for t in (gpt2.out_proj.weight, gpt2.out_proj.bias))
    expect_close(
        got,
        oracle.multi_head(f64(x), wq, wk, wv, out_w, out_b, num_heads=12),
        what="gpt2_small_attention()(x) against its own parameters, 12 heads",
        inputs="x = 3 random tokens [1, 3, 768]",
        atol=FLOAT32_ATOL,
    )
