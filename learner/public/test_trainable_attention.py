"""trainable_attention: scaled dot-product attention with W_query, W_key, W_value (section 3.4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from learner.compare import DOC_ATOL, FLOAT32_ATOL
from learner.mistakes import Case
from learner.public import oracle
from learner.public.expect import (
    as_numbers,
    computed,
    diagnosing,
    expect_close,
    expect_sums_to_one,
    expect_that,
    fixture,
    layers_of,
    module_case,
    show,
)
from learner.public.scenarios import (
    RANDOM_SEEDS,
    f64,
    journey,
    manual_seed,
    randn,
    wars,
    wars_weights,
)

WARS = fixture("doc001_wars_seed123")
CHAPTER = fixture("chapter_seeded")
Q = WARS["query_index"].value  # 1: "not", the second token
QKV_NAMES = ("W_query", "W_key", "W_value")


def _projections(module, x, *weights):
    """qkv_projections(...) checked to be three tensors, returned as (queries, keys, values)."""
    with diagnosing(Case("qkv_projections", (x, *weights))):
        out = module.qkv_projections(x, *weights)
    expect_that(
        isinstance(out, (tuple, list)) and len(out) == 3,
        what="qkv_projections(x, W_query, W_key, W_value)",
        expected="a tuple of three tensors (queries, keys, values)",
        got=type(out).__name__ + (f" of {len(out)}" if isinstance(out, (tuple, list)) else ""),
    )
    return out


# ---- qkv_projections ---------------------------------------------------------------------------


@pytest.mark.exercise("qkv_projections")
def test_qkv_projections_seed_123(trainable_attention):
    """With the seed-123 weights of "wars not make one great", are query_2, keys, values right?"""
    x, weights = wars(), wars_weights()
    queries, keys, values = _projections(trainable_attention, x, *weights)
    what = "qkv_projections(inputs, W_query, W_key, W_value) with the seed-123 weights"
    as_numbers(queries, kind="torch", what=f"queries from {what}")
    expect_close(
        queries[Q],
        WARS["query_2"].value,
        what=f"queries[1] (query_2) from {what}",
        source=WARS["query_2"].source,
        atol=DOC_ATOL,
    )
    for item, (name, got, shape) in enumerate(
        (("keys", keys, WARS["keys_shape"]), ("values", values, WARS["values_shape"])), start=1
    ):
        expect_that(
            tuple(getattr(got, "shape", ())) == tuple(shape.value),
            what=f"the shape of {name} from {what}",
            expected=f"{shape.value} ({shape.source})",
            got=f"{list(getattr(got, 'shape', []))}",
        )
        expect_close(
            got,
            WARS[name].value,
            what=f"{name} from {what}",
            source=WARS[name].source,
            atol=DOC_ATOL,
            case=Case("qkv_projections", (x, *weights), item=item),
        )


@pytest.mark.exercise("qkv_projections")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_qkv_projections_are_matrix_products(trainable_attention, seed):
    """Is each projection x @ W for a [4, 5] input and three different [5, 3] matrices?"""
    x, wq, wk, wv = (
        randn(seed, 4, 5),
        randn(seed + 1, 5, 3),
        randn(seed + 2, 5, 3),
        randn(seed + 3, 5, 3),
    )
    got = _projections(trainable_attention, x, wq, wk, wv)
    names = ("queries", "keys", "values")
    for item, (name, g, w) in enumerate(zip(names, got, (wq, wk, wv), strict=True)):
        expect_close(
            g,
            f64(x) @ f64(w),
            what=f"{name} from qkv_projections(x, W_query, W_key, W_value)",
            inputs=show(x=x),
            atol=FLOAT32_ATOL,
            rtol=FLOAT32_ATOL,
            case=Case("qkv_projections", (x, wq, wk, wv), item=item),
        )


# ---- scaled_attention_weights -----------------------------------------------------------------


@pytest.mark.exercise("scaled_attention_weights")
def test_scaled_attention_weights_seed_123(trainable_attention):
    """Are the scaled weights of query_2 those of "wars not make one great", summing to 1?"""
    x = wars()
    W_query, W_key, _ = wars_weights()
    d_k = WARS["d_k"].value
    scores = (x @ W_query) @ (x @ W_key).T  # (5, 5); row 1 is attn_scores_2
    with diagnosing(Case("scaled_attention_weights", (scores[Q], d_k))):
        got = trainable_attention.scaled_attention_weights(scores[Q], d_k)
    what = f"scaled_attention_weights(attn_scores_2, d_k={d_k})"
    expect_close(
        got,
        WARS["attn_weights_2"].value,
        what=what,
        inputs=show(attn_scores_2=scores[Q]),
        source=WARS["attn_weights_2"].source,
        atol=DOC_ATOL,
        case=Case("scaled_attention_weights", (scores[Q], d_k)),
    )
    expect_sums_to_one(got, what=what)
    every_row = trainable_attention.scaled_attention_weights(scores, d_k)
    expect_close(
        every_row,
        oracle.softmax(f64(scores) / d_k**0.5),
        what=f"scaled_attention_weights(all scores [5, 5], d_k={d_k}), row by row",
        inputs=show(scores=scores),
        atol=FLOAT32_ATOL,
        case=Case("scaled_attention_weights", (scores, d_k)),
    )


@pytest.mark.exercise("scaled_attention_weights")
@pytest.mark.parametrize("seed, d_k", [(0, 4), (1, 9), (2, 16)])
def test_scaled_attention_weights_divide_by_sqrt_d_k(trainable_attention, seed, d_k):
    """Are the scores divided by sqrt(d_k) (not d_k) before a softmax along each row?"""
    scores = randn(seed, 3, 4) * 4
    got = trainable_attention.scaled_attention_weights(scores, d_k)
    expect_close(
        got,
        oracle.softmax(f64(scores) / d_k**0.5),
        what=f"scaled_attention_weights(scores, d_k={d_k})",
        inputs=show(scores=scores),
        atol=FLOAT32_ATOL,
        case=Case("scaled_attention_weights", (scores, d_k)),
    )


# ---- self_attention ----------------------------------------------------------------------------


@pytest.mark.exercise("self_attention")
def test_self_attention_seed_123(trainable_attention):
    """With the seed-123 weights, are the context vectors those printed, row 1 being z(2)?"""
    x, weights = wars(), wars_weights()
    case = Case("self_attention", (x, *weights))
    with diagnosing(case):
        got = trainable_attention.self_attention(x, *weights)
    what = "self_attention(inputs, W_query, W_key, W_value) with the seed-123 weights"
    expect_close(
        got,
        WARS["sa_v1_output"].value,
        what=what,
        inputs=show(inputs=x),
        source=WARS["sa_v1_output"].source,
        atol=DOC_ATOL,
        case=case,
    )
    expect_close(
        got[Q],
        WARS["context_vec_2"].value,
        what=f"row 1 of {what} (context_vec_2)",
        source=WARS["context_vec_2"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("self_attention")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_self_attention_formula(trainable_attention, seed):
    """Is the result softmax(Q Kᵀ / sqrt(d_k)) V for a [5, 4] input and d_out = 3?"""
    x, wq, wk, wv = (
        randn(seed, 5, 4),
        randn(seed + 1, 4, 3),
        randn(seed + 2, 4, 3),
        randn(seed + 3, 4, 3),
    )
    case = Case("self_attention", (x, wq, wk, wv))
    with diagnosing(case):
        got = trainable_attention.self_attention(x, wq, wk, wv)
    expect_close(
        got,
        oracle.attention(f64(x), f64(wq), f64(wk), f64(wv)),
        what="self_attention(x, W_query, W_key, W_value)",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
        case=case,
    )


# ---- SelfAttention_v1 --------------------------------------------------------------------------


@pytest.mark.exercise("SelfAttention_v1")
def test_self_attention_v1_seed_123(trainable_attention):
    """After torch.manual_seed(123), does SelfAttention_v1(3, 2) give the example's output?"""
    manual_seed(WARS["seed"].value)
    args = (WARS["d_in"].value, WARS["d_out"].value)
    module = trainable_attention.SelfAttention_v1(*args)
    x = wars()
    own = computed(lambda: oracle.attention(f64(x), *(f64(getattr(module, n)) for n in QKV_NAMES)))
    case = module_case("SelfAttention_v1", module, x, args=args, seed=WARS["seed"].value, right=own)
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        WARS["sa_v1_output"].value,
        what="torch.manual_seed(123); SelfAttention_v1(d_in=3, d_out=2)(inputs)",
        inputs=show(inputs=x),
        source=WARS["sa_v1_output"].source,
        atol=DOC_ATOL,
        case=case,
    )


@pytest.mark.exercise("SelfAttention_v1")
def test_self_attention_v1_parameters(trainable_attention):
    """Does SelfAttention_v1 hold W_query, W_key, W_value as [d_in, d_out] nn.Parameters?"""
    module = trainable_attention.SelfAttention_v1(4, 3)
    params = dict(module.named_parameters())
    expect_that(
        sorted(params) == ["W_key", "W_query", "W_value"]
        and all(isinstance(getattr(module, n), nn.Parameter) for n in params),
        what="the parameters of SelfAttention_v1(d_in=4, d_out=3)",
        expected="nn.Parameter W_query, W_key, W_value",
        got=", ".join(f"{n} {list(p.shape)}" for n, p in params.items()) or "no parameters",
    )
    expect_that(
        all(tuple(p.shape) == (4, 3) for p in params.values()),
        what="the shapes of W_query, W_key, W_value in SelfAttention_v1(d_in=4, d_out=3)",
        expected="[4, 3] each (d_in, d_out)",
        got=", ".join(f"{n} {list(p.shape)}" for n, p in params.items()),
    )
    x = randn(5, 6, 4)
    case = module_case("SelfAttention_v1", module, x, args=(4, 3))
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        oracle.attention(*(f64(t) for t in (x, module.W_query, module.W_key, module.W_value))),
        what="SelfAttention_v1(4, 3)(x) against its own W_query, W_key, W_value",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
        case=case,
    )


# ---- SelfAttention_v2 --------------------------------------------------------------------------


@pytest.mark.exercise("SelfAttention_v2")
def test_self_attention_v2_book_seed_789(trainable_attention):
    """After torch.manual_seed(789), does SelfAttention_v2(3, 2) give the book's output?"""
    given = CHAPTER["SelfAttention_v2"]
    manual_seed(789)
    module = trainable_attention.SelfAttention_v2(3, 2)
    x = journey()
    own = computed(lambda: oracle.linear_attention(f64(x), layers_of(module)))
    case = module_case("SelfAttention_v2", module, x, args=(3, 2), seed=789, right=own)
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        given.value,
        what="torch.manual_seed(789); SelfAttention_v2(d_in=3, d_out=2)(journey inputs)",
        inputs=show(inputs=x),
        source=given.source,
        atol=FLOAT32_ATOL,
        case=case,
    )


@pytest.mark.exercise("SelfAttention_v2")
def test_self_attention_v2_with_seed_123_weights(trainable_attention):
    """Given the seed-123 matrices as Linear weights (transposed), is the output the same?"""
    module = trainable_attention.SelfAttention_v2(3, 2)
    layers = (module.W_query, module.W_key, module.W_value)
    with torch.no_grad():
        for layer, w in zip(layers, wars_weights(), strict=True):
            layer.weight.copy_(w.T)  # nn.Linear keeps [d_out, d_in]
    x = wars()
    case = module_case("SelfAttention_v2", module, x, args=(3, 2))
    with diagnosing(case):
        got = module(x)
    expect_close(
        got,
        WARS["sa_v1_output"].value,
        what="SelfAttention_v2(3, 2) with W_query.weight = W_query.T etc. (the seed-123 matrices)",
        inputs=show(inputs=x),
        source=WARS["sa_v1_output"].source,
        atol=DOC_ATOL,
        case=case,
    )


@pytest.mark.exercise("SelfAttention_v2")
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_self_attention_v2_linear_layers(trainable_attention, qkv_bias):
    """Are W_query, W_key, W_value nn.Linear(d_in, d_out) layers, with a bias only if asked?"""
    module = trainable_attention.SelfAttention_v2(4, 3, qkv_bias=qkv_bias)
    layers = [getattr(module, n, None) for n in ("W_query", "W_key", "W_value")]
    expect_that(
        all(isinstance(layer, nn.Linear) for layer in layers),
        what=f"SelfAttention_v2(4, 3, qkv_bias={qkv_bias}).W_query, .W_key, .W_value",
        expected="three nn.Linear layers",
        got=", ".join(type(layer).__name__ for layer in layers),
    )
    expect_that(
        all(layer.in_features == 4 and layer.out_features == 3 for layer in layers)
        and all((layer.bias is not None) == qkv_bias for layer in layers),
        what=f"the layers of SelfAttention_v2(4, 3, qkv_bias={qkv_bias})",
        expected=f"nn.Linear(4, 3, bias={qkv_bias}) each",
        got=", ".join(repr(layer) for layer in layers),
    )
    x = randn(6, 5, 4)
    q, k, v = (f64(layer.weight).T for layer in layers)
    bias = [f64(layer.bias) if qkv_bias else 0.0 for layer in layers]
    expected = oracle.softmax((f64(x) @ q + bias[0]) @ (f64(x) @ k + bias[1]).T / 3**0.5) @ (
        f64(x) @ v + bias[2]
    )
    expect_close(
        module(x),
        expected,
        what=f"SelfAttention_v2(4, 3, qkv_bias={qkv_bias})(x) against its own layers",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
        case=module_case("SelfAttention_v2", module, x, args=(4, 3, qkv_bias)),
    )


# ---- v1_state_from_v2 --------------------------------------------------------------------------


@pytest.mark.exercise("v1_state_from_v2")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_v1_state_from_v2_transposes_each_layer(trainable_attention, seed):
    """Is each SelfAttention_v1 parameter the SelfAttention_v2(4, 3) layer's weight transposed?

    (v1's own names W_query, W_key, W_value, each [4, 3] from a weight [3, 4].)
    """
    state = {f"{n}.weight": randn(10 * seed + i, 3, 4) for i, n in enumerate(QKV_NAMES)}
    case = Case("v1_state_from_v2", (state,))
    with diagnosing(case):
        got = trainable_attention.v1_state_from_v2({k: v.clone() for k, v in state.items()})
    expect_close(
        got,
        {n: f64(state[f"{n}.weight"]).T for n in QKV_NAMES},
        what="v1_state_from_v2(state) of a random SelfAttention_v2(4, 3)",
        inputs=show(**{k.replace(".", "_"): v for k, v in state.items()}),
        atol=0.0,
        case=case,
    )
