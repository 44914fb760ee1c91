"""numpy_attention: the same scaled dot-product attention in plain numpy (the numpy example)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from learner.compare import DOC_ATOL, FLOAT32_ATOL
from learner.mistakes import Case
from learner.public import oracle
from learner.public.expect import (
    SUM_ATOL,
    as_numbers,
    diagnosing,
    expect_close,
    expect_own_code,
    expect_sums_to_one,
    expect_that,
    fixture,
    show,
)
from learner.public.scenarios import RANDOM_SEEDS, f64, journey, rand_np

DOC000 = fixture("doc000_numpy_shapes")
JOURNEY = fixture("doc002_003_journey")


def _doc000_weights(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W_Q, W_K, W_V [d, d_k] as the numpy example draws them (uniform [0, 1)), but seeded."""
    d, d_k = DOC000["d"].value, DOC000["d_k"].value
    return rand_np(seed, d, d_k), rand_np(seed + 1, d, d_k), rand_np(seed + 2, d, d_k)


def _attention(module, X, *weights):
    """self_attention_numpy(...) checked to be a pair, returned as (output, weights)."""
    out = module.self_attention_numpy(X, *weights)
    expect_that(
        isinstance(out, (tuple, list)) and len(out) == 2,
        what="self_attention_numpy(X, W_Q, W_K, W_V)",
        expected="a pair (output, attention_weights)",
        got=type(out).__name__ + (f" of {len(out)}" if isinstance(out, (tuple, list)) else ""),
    )
    return out


# ---- softmax_rows ------------------------------------------------------------------------------


@pytest.mark.exercise("softmax_rows")
def test_softmax_rows_journey(numpy_attention):
    """Is row 1 (journey) of softmax_rows(all journey scores) the weights of section 3.3.1?"""
    x = f64(journey())
    scores = x @ x.T  # (6, 6); row 1 is attn_scores_2
    got = numpy_attention.softmax_rows(scores)
    expect_close(
        as_numbers(got, kind="numpy", what="softmax_rows(scores)")[JOURNEY["query_index"].value],
        JOURNEY["attn_weights_2"].value,
        what="row 1 (journey) of softmax_rows(inputs @ inputs.T) for the journey inputs",
        inputs=show(scores=scores[1]),
        source=JOURNEY["attn_weights_2"].source,
        atol=DOC_ATOL,
        kind="numpy",
        case=Case("softmax_rows", (scores,), item=JOURNEY["query_index"].value),
    )


@pytest.mark.exercise("softmax_rows")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_softmax_rows_each_row(numpy_attention, seed):
    """Is every row softmaxed on its own: positive, summing to 1, and the right values?"""
    scores = rand_np(seed, 4, 5) * 6 - 3
    case = Case("softmax_rows", (scores,))
    with diagnosing(case):
        got = numpy_attention.softmax_rows(scores)
    what = "softmax_rows(scores) on a [4, 5] array"
    expect_close(
        got, oracle.softmax(scores, axis=1), what=what, inputs=show(scores=scores),
        atol=FLOAT32_ATOL, kind="numpy", case=case,
    )  # fmt: skip
    expect_sums_to_one(got, what=what, dim=1, kind="numpy")


@pytest.mark.exercise("softmax_rows")
def test_softmax_rows_large_scores(numpy_attention):
    """Do scores of 1000 and more stay finite, each row equal to softmax([0, 1])?"""
    scores = np.array([[0.0, 1.0], [1000.0, 1001.0], [-1000.0, -999.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        got = numpy_attention.softmax_rows(scores)
    expect_close(
        got,
        [[1 / (1 + math.e), math.e / (1 + math.e)]] * 3,
        what="softmax_rows(scores) (every row is softmax([0, 1]))",
        inputs=show(scores=scores),
        atol=FLOAT32_ATOL,
        kind="numpy",
        case=Case("softmax_rows", (scores,)),
    )


@pytest.mark.exercise("softmax_rows")
def test_softmax_rows_writes_its_own(numpy_attention):
    """Is softmax_rows written with np.exp and a sum, without a library softmax?"""
    expect_own_code(
        numpy_attention, "softmax_rows", lambda: numpy_attention.softmax_rows(rand_np(0, 3, 3))
    )


@pytest.mark.exercise("self_attention_numpy")
def test_self_attention_numpy_is_numpy_only(numpy_attention):
    """Is self_attention_numpy written in numpy, without torch?"""
    X, W = rand_np(1, 3, 4), rand_np(2, 4, 2)
    expect_own_code(
        numpy_attention,
        "self_attention_numpy",
        lambda: numpy_attention.self_attention_numpy(X, W, W, W),
    )


# ---- self_attention_numpy ----------------------------------------------------------------------


@pytest.mark.exercise("self_attention_numpy")
def test_self_attention_numpy_example_shapes(numpy_attention):
    """On the numpy example's X (3 tokens, d = 5, d_k = 4), are the shapes and row sums right?"""
    X = np.array(DOC000["X"].value)
    output, weights = _attention(numpy_attention, X, *_doc000_weights(0))
    for item, name, got, given in (
        (1, "attention_weights", weights, DOC000["attention_weights_shape"]),
        (0, "output", output, DOC000["output_shape"]),
    ):
        shape = as_numbers(got, kind="numpy", what=f"{name} from self_attention_numpy").shape
        expect_that(
            list(shape) == given.value,
            what=f"the shape of {name} from self_attention_numpy(X, W_Q, W_K, W_V)",
            inputs=show(X=X),
            expected=f"{tuple(given.value)} ({given.source})",
            got=str(tuple(shape)),
            case=Case(
                "self_attention_numpy",
                (X, *_doc000_weights(0)),
                item=item,
                then=lambda a: np.asarray(a.shape),
            ),
            value=np.asarray(shape),
            wanted=np.asarray(given.value),
        )
    row_sum = DOC000["row_sum"]
    expect_close(
        np.asarray(weights).sum(axis=1),
        np.full(3, row_sum.value),
        what="the row sums of attention_weights from self_attention_numpy(X, W_Q, W_K, W_V)",
        source=row_sum.source,
        atol=SUM_ATOL,
        kind="numpy",
        case=Case(
            "self_attention_numpy",
            (X, *_doc000_weights(0)),
            item=1,
            then=lambda w: w.sum(axis=1),
        ),
    )


@pytest.mark.exercise("self_attention_numpy")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_self_attention_numpy_formula(numpy_attention, seed):
    """Are the weights softmax_rows(Q Kᵀ / sqrt(d_k)) and the output weights @ V?"""
    X = np.array(DOC000["X"].value, dtype=float)
    W_Q, W_K, W_V = _doc000_weights(seed)
    output, weights = _attention(numpy_attention, X, W_Q, W_K, W_V)
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V
    expected_weights = oracle.softmax(Q @ K.T / np.sqrt(K.shape[1]), axis=1)
    expect_close(
        weights,
        expected_weights,
        what="attention_weights from self_attention_numpy(X, W_Q, W_K, W_V) (d_k = 4)",
        inputs=show(X=X),
        atol=FLOAT32_ATOL,
        kind="numpy",
        case=Case("self_attention_numpy", (X, W_Q, W_K, W_V), item=1),
    )
    expect_close(
        output,
        expected_weights @ V,
        what="output from self_attention_numpy(X, W_Q, W_K, W_V)",
        inputs=show(X=X),
        atol=FLOAT32_ATOL,
        kind="numpy",
        case=Case("self_attention_numpy", (X, W_Q, W_K, W_V), item=0),
    )


@pytest.mark.exercise("self_attention_numpy")
def test_self_attention_numpy_values_narrower_than_keys(numpy_attention):
    """With W_V [5, 3] narrower than W_K [5, 4], are the scores still scaled by sqrt(d_k) = 2?"""
    X = np.array(DOC000["X"].value, dtype=float)
    W_Q, W_K, _ = _doc000_weights(11)
    W_V = rand_np(14, 5, 3)
    output, _ = _attention(numpy_attention, X, W_Q, W_K, W_V)
    Q, K = X @ W_Q, X @ W_K
    expect_close(
        output,
        oracle.softmax(Q @ K.T / np.sqrt(K.shape[1]), axis=1) @ (X @ W_V),
        what="output from self_attention_numpy(X, W_Q, W_K, W_V) with d_k = 4, d_v = 3",
        inputs=show(X=X),
        atol=FLOAT32_ATOL,
        kind="numpy",
        case=Case("self_attention_numpy", (X, W_Q, W_K, W_V), item=0),
    )


@pytest.mark.exercise("self_attention_numpy")
def test_self_attention_numpy_output_is_a_blend_of_values(numpy_attention):
    """Does every output row lie within the range of V's rows (a convex combination)?"""
    X = np.array(DOC000["X"].value, dtype=float)
    W_Q, W_K, W_V = _doc000_weights(7)
    output, _ = _attention(numpy_attention, X, W_Q, W_K, W_V)
    out = as_numbers(output, kind="numpy", what="output from self_attention_numpy")
    V = X @ W_V
    inside = out.shape == V.shape and bool(
        np.all(out >= V.min(axis=0) - FLOAT32_ATOL) and np.all(out <= V.max(axis=0) + FLOAT32_ATOL)
    )
    expect_that(
        inside,
        what="output from self_attention_numpy(X, W_Q, W_K, W_V)",
        inputs=show(X=X),
        expected=f"every column between V's smallest {np.round(V.min(axis=0), 4).tolist()} and "
        f"largest {np.round(V.max(axis=0), 4).tolist()} entries",
        got=show(output=out),
    )
