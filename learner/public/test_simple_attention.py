"""simple_attention: scores, softmax and context vectors without trainable weights (section 3.3)."""

from __future__ import annotations

import math

import pytest
import torch

from learner.compare import DOC_ATOL, FLOAT32_ATOL
from learner.mistakes import Case
from learner.public import oracle
from learner.public.expect import (
    EXACT,
    SUM_ATOL,
    diagnosing,
    expect_close,
    expect_own_code,
    expect_sums_to_one,
    expect_that,
    fixture,
    show,
)
from learner.public.scenarios import (
    RANDOM_SEEDS,
    cat_ran,
    f64,
    journey,
    randn,
    wars,
    wars_weights,
)

JOURNEY = fixture("doc002_003_journey")
CAT = fixture("doc004_cat_ran")
WARS = fixture("doc001_wars_seed123")
Q_JOURNEY = JOURNEY["query_index"].value  # 1: "journey"
Q_CAT = CAT["query_index"].value  # 2: "ran"
# softmax([0, 1]): what softmax_stable must return for [1000, 1001] and [-1000, -999] too
SOFTMAX_0_1 = [1 / (1 + math.e), math.e / (1 + math.e)]
# float32 values near 1000 are 6e-5 apart, so a correct shift (max or logsumexp) may be that far off
LARGE_LOGITS_ATOL = 1e-4


# ---- attention_scores --------------------------------------------------------------------------


@pytest.mark.exercise("attention_scores")
def test_attention_scores_journey(simple_attention):
    """Are the scores of "journey" against every token those printed in book section 3.3.1?"""
    x = journey()
    got = simple_attention.attention_scores(x[Q_JOURNEY], x)
    expect_close(
        got,
        JOURNEY["attn_scores_2"].value,
        what='attention_scores(query=inputs[1], inputs) for "Your journey starts with one step"',
        inputs=show(inputs=x),
        source=JOURNEY["attn_scores_2"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("attention_scores")
def test_attention_scores_query_against_keys(simple_attention):
    """Scoring query_2 against the keys of "wars not make one great": attn_scores_2 and ω22?"""
    x = wars()
    W_query, W_key, _ = wars_weights()
    query_2, keys = x[WARS["query_index"].value] @ W_query, x @ W_key
    got = simple_attention.attention_scores(query_2, keys)
    what = 'attention_scores(query_2, keys) for the seeded weights of "wars not make one great"'
    expect_close(
        got,
        WARS["attn_scores_2"].value,
        what=what,
        inputs=show(query_2=query_2, keys=keys),
        source=WARS["attn_scores_2"].source,
        atol=DOC_ATOL,
    )
    expect_close(
        got[1],
        WARS["attn_score_22"].value,
        what=f"entry [1] of {what} (ω22)",
        source=WARS["attn_score_22"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("attention_scores")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_attention_scores_are_dot_products(simple_attention, seed):
    """Is every score the dot product of the query with that row (seeded random inputs)?"""
    x, query = randn(seed, 5, 4), randn(seed + 100, 4)
    got = simple_attention.attention_scores(query, x)
    expect_close(
        got,
        f64(x) @ f64(query),
        what="attention_scores(query, inputs)",
        inputs=show(query=query, inputs=x),
        atol=FLOAT32_ATOL,
        rtol=FLOAT32_ATOL,
    )


# ---- normalize_by_sum --------------------------------------------------------------------------


@pytest.mark.exercise("normalize_by_sum")
def test_normalize_by_sum_journey(simple_attention):
    """Are the sum-normalised journey scores those of section 3.3.1, and do they sum to 1?"""
    x = journey()
    scores = x @ x[Q_JOURNEY]
    got = simple_attention.normalize_by_sum(scores)
    expect_close(
        got,
        JOURNEY["attn_weights_2_tmp"].value,
        what="normalize_by_sum(attn_scores_2)",
        inputs=show(scores=scores),
        source=JOURNEY["attn_weights_2_tmp"].source,
        atol=DOC_ATOL,
    )
    expect_close(
        got.sum(),
        JOURNEY["attn_weights_2_tmp_sum"].value,
        what="the sum of normalize_by_sum(attn_scores_2)",
        source=JOURNEY["attn_weights_2_tmp_sum"].source,
        atol=SUM_ATOL,
    )


@pytest.mark.exercise("normalize_by_sum")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_normalize_by_sum_rows(simple_attention, seed):
    """For a 2-D input, is each row divided by its own sum (along the last dimension)?"""
    scores = randn(seed, 3, 5).abs() + 0.1
    with diagnosing(Case("normalize_by_sum", (scores,))):
        got = simple_attention.normalize_by_sum(scores)
    expected = f64(scores) / f64(scores).sum(axis=-1, keepdims=True)
    expect_close(
        got,
        expected,
        what="normalize_by_sum(scores) on a [3, 5] input",
        inputs=show(scores=scores),
        atol=FLOAT32_ATOL,
        case=Case("normalize_by_sum", (scores,)),
    )


# ---- softmax_naive -----------------------------------------------------------------------------


@pytest.mark.exercise("softmax_naive")
def test_softmax_naive_journey(simple_attention):
    """Is softmax_naive of the journey scores the weights of section 3.3.1, summing to 1?"""
    x = journey()
    scores = x @ x[Q_JOURNEY]
    got = simple_attention.softmax_naive(scores)
    expect_close(
        got,
        JOURNEY["attn_weights_2"].value,
        what="softmax_naive(attn_scores_2)",
        inputs=show(scores=scores),
        source=JOURNEY["attn_weights_2"].source,
        atol=DOC_ATOL,
    )
    expect_close(
        got.sum(),
        JOURNEY["attn_weights_2_sum"].value,
        what="the sum of softmax_naive(attn_scores_2)",
        source=JOURNEY["attn_weights_2_sum"].source,
        atol=SUM_ATOL,
    )


@pytest.mark.exercise("softmax_naive")
def test_softmax_naive_cat_ran(simple_attention):
    """Is softmax_naive of the "ran" scores the weights of "The cat ran", summing to 1?"""
    x = cat_ran()
    scores = x @ x[Q_CAT]
    got = simple_attention.softmax_naive(scores)
    expect_close(
        got,
        CAT["attn_weights"].value,
        what='softmax_naive(attn_scores) for "The cat ran"',
        inputs=show(scores=scores),
        source=CAT["attn_weights"].source,
        atol=DOC_ATOL,
    )
    expect_close(
        got.sum(),
        CAT["attn_weights_sum"].value,
        what='the sum of softmax_naive(attn_scores) for "The cat ran"',
        source=CAT["attn_weights_sum"].source,
        atol=SUM_ATOL,
    )


@pytest.mark.exercise("softmax_naive")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_softmax_naive_2d_rows(simple_attention, seed):
    """For a 2-D input, is every row softmaxed on its own, so that each row sums to 1?"""
    x = randn(seed, 3, 4)
    with diagnosing(Case("softmax_naive", (x,))):
        got = simple_attention.softmax_naive(x)
    expect_close(
        got,
        oracle.softmax(f64(x), axis=-1),
        what="softmax_naive(x) on a [3, 4] input, along the last dimension",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
        case=Case("softmax_naive", (x,)),
    )


@pytest.mark.exercise("softmax_naive")
def test_softmax_naive_writes_its_own(simple_attention):
    """Is softmax_naive built from exp and a sum, without a library softmax?"""
    expect_own_code(
        simple_attention, "softmax_naive", lambda: simple_attention.softmax_naive(randn(0, 2, 3))
    )


# ---- softmax_stable ----------------------------------------------------------------------------


@pytest.mark.exercise("softmax_stable")
def test_softmax_stable_journey(simple_attention):
    """Is softmax_stable of the journey scores the weights of book section 3.3.1?"""
    x = journey()
    scores = x @ x[Q_JOURNEY]
    expect_close(
        simple_attention.softmax_stable(scores),
        JOURNEY["attn_weights_2"].value,
        what="softmax_stable(attn_scores_2)",
        inputs=show(scores=scores),
        source=JOURNEY["attn_weights_2"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("softmax_stable")
def test_softmax_stable_large_logits(simple_attention):
    """Does softmax_stable stay finite for [1000, 1001], and equal softmax([0, 1]) there?"""
    x = torch.tensor([[0.0, 1.0], [1000.0, 1001.0], [-1000.0, -999.0]])
    with diagnosing(Case("softmax_stable", (x,))):
        got = simple_attention.softmax_stable(x)
    expect_close(
        got,
        [SOFTMAX_0_1] * 3,
        what="softmax_stable(x) along the last dimension (every row is softmax([0, 1]))",
        inputs=show(x=x),
        atol=LARGE_LOGITS_ATOL,
        case=Case("softmax_stable", (x,)),
    )


@pytest.mark.exercise("softmax_stable")
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_softmax_stable_along_dim(simple_attention, dim):
    """Does softmax_stable normalise along the `dim` it is given (a [2, 3, 4] input)?"""
    x = randn(dim + 10, 2, 3, 4) * 3
    with diagnosing(Case("softmax_stable", (x,), {"dim": dim})):
        got = simple_attention.softmax_stable(x, dim=dim)
    expect_close(
        got,
        oracle.softmax(f64(x), axis=dim),
        what=f"softmax_stable(x, dim={dim}) on a [2, 3, 4] input",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
        case=Case("softmax_stable", (x,), {"dim": dim}),
    )


@pytest.mark.exercise("softmax_stable")
def test_softmax_stable_default_dim(simple_attention):
    """Without a `dim`, does softmax_stable normalise the last dimension?"""
    x = randn(3, 3, 4)
    expect_close(
        simple_attention.softmax_stable(x),
        oracle.softmax(f64(x), axis=-1),
        what="softmax_stable(x) (dim left at its default, -1)",
        inputs=show(x=x),
        atol=FLOAT32_ATOL,
    )


@pytest.mark.exercise("softmax_stable")
def test_softmax_stable_writes_its_own(simple_attention):
    """Is softmax_stable built from exp, max and sum, without a library softmax?"""
    expect_own_code(
        simple_attention,
        "softmax_stable",
        lambda: simple_attention.softmax_stable(randn(0, 2, 3), dim=-1),
    )


# ---- context_vector ----------------------------------------------------------------------------


def _weights(x: torch.Tensor, query: int) -> torch.Tensor:
    """The attention weights of one query token, from the oracle (float32)."""
    return torch.tensor(oracle.softmax(f64(x) @ f64(x[query])), dtype=torch.float32)


@pytest.mark.exercise("context_vector")
def test_context_vector_journey(simple_attention):
    """Is the context vector of "journey" the z(2) printed in book section 3.3.1?"""
    x = journey()
    weights = _weights(x, Q_JOURNEY)
    expect_close(
        simple_attention.context_vector(weights, x),
        JOURNEY["context_vec_2"].value,
        what="context_vector(attn_weights_2, inputs)",
        inputs=show(attn_weights=weights),
        source=JOURNEY["context_vec_2"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("context_vector")
def test_context_vector_cat_ran(simple_attention):
    """Is the context vector of "ran" the one of the "The cat ran" example?"""
    x = cat_ran()
    weights = _weights(x, Q_CAT)
    expect_close(
        simple_attention.context_vector(weights, x),
        CAT["context_vec"].value,
        what='context_vector(attn_weights, inputs) for "The cat ran"',
        inputs=show(attn_weights=weights),
        source=CAT["context_vec"].source,
        atol=DOC_ATOL,
    )


@pytest.mark.exercise("context_vector")
@pytest.mark.parametrize("row", [0, 3])
def test_context_vector_one_hot_picks_a_row(simple_attention, row):
    """With all the weight on one token, is the context vector exactly that token?"""
    x = randn(4, 5, 3)
    weights = torch.zeros(5)
    weights[row] = 1.0
    expect_close(
        simple_attention.context_vector(weights, x),
        f64(x[row]),
        what=f"context_vector(one-hot weights on row {row}, inputs)",
        inputs=show(attn_weights=weights),
        atol=EXACT,
    )


@pytest.mark.exercise("context_vector")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_context_vector_weighted_sum(simple_attention, seed):
    """Is the context vector Σ α_i x_i for random weights and inputs?"""
    x, weights = randn(seed, 6, 4), torch.softmax(randn(seed + 1, 6), dim=0)
    expect_close(
        simple_attention.context_vector(weights, x),
        f64(weights) @ f64(x),
        what="context_vector(attn_weights, inputs)",
        inputs=show(attn_weights=weights),
        atol=FLOAT32_ATOL,
    )


# ---- all_attention_scores / all_attention_weights / all_context_vectors -----------------------
# Row i is token i's query: row 1 of the journey and row 2 of "The cat ran" are printed. Rows
# are numbered from 0, as in Python, with their token.
CAT_RAN = '"The cat ran"'
ROW = {"journey": f"row {Q_JOURNEY} (journey)", CAT_RAN: f'row {Q_CAT} ("ran")'}


@pytest.mark.exercise("all_attention_scores")
def test_all_attention_scores_rows_are_the_printed_scores(simple_attention):
    """Are row 1 (journey) and row 2 ("ran") of the all-pairs scores the printed scores?"""
    for x, row, given, name in [
        (journey(), Q_JOURNEY, JOURNEY["attn_scores_2"], "journey"),
        (cat_ran(), Q_CAT, CAT["attn_scores"], CAT_RAN),
    ]:
        got = simple_attention.all_attention_scores(x)
        expect_close(
            got,
            f64(x) @ f64(x).T,
            what=f"all_attention_scores(inputs) for {name}",
            inputs=show(inputs=x),
            atol=FLOAT32_ATOL,
        )
        expect_close(
            got[row],
            given.value,
            what=f"{ROW[name]} of all_attention_scores(inputs) for {name}",
            source=given.source,
            atol=DOC_ATOL,
        )


@pytest.mark.exercise("all_attention_scores")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_all_attention_scores_every_pair(simple_attention, seed):
    """Is entry [i, j] the dot product x_i · x_j for every pair (seeded random inputs)?"""
    x = randn(seed, 4, 3)
    expect_close(
        simple_attention.all_attention_scores(x),
        f64(x) @ f64(x).T,
        what="all_attention_scores(inputs) on a [4, 3] input",
        inputs=show(inputs=x),
        atol=FLOAT32_ATOL,
    )


@pytest.mark.exercise("all_attention_weights")
def test_all_attention_weights_rows_are_the_printed_weights(simple_attention):
    """Are row 1 (journey) and row 2 ("ran") of the all-pairs weights the printed weights?"""
    for x, row, given, name in [
        (journey(), Q_JOURNEY, JOURNEY["attn_weights_2"], "journey"),
        (cat_ran(), Q_CAT, CAT["attn_weights"], CAT_RAN),
    ]:
        got = simple_attention.all_attention_weights(x)
        expect_close(
            got,
            oracle.softmax(f64(x) @ f64(x).T),
            what=f"all_attention_weights(inputs) for {name}",
            inputs=show(inputs=x),
            atol=FLOAT32_ATOL,
            case=Case("all_attention_weights", (x,)),
        )
        expect_close(
            got[row],
            given.value,
            what=f"{ROW[name]} of all_attention_weights(inputs) for {name}",
            source=given.source,
            atol=DOC_ATOL,
        )


@pytest.mark.exercise("all_attention_weights")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_all_attention_weights_rows_sum_to_one(simple_attention, seed):
    """Do the rows (not the columns) of the all-pairs weights sum to 1?"""
    x = randn(seed, 5, 3)
    expect_sums_to_one(
        simple_attention.all_attention_weights(x),
        what="all_attention_weights(inputs)",
        inputs=show(inputs=x),
    )


@pytest.mark.exercise("all_context_vectors")
def test_all_context_vectors_rows_are_the_printed_vectors(simple_attention):
    """Are row 1 (journey) and row 2 ("ran") of all context vectors the printed z vectors?"""
    for x, row, given, name in [
        (journey(), Q_JOURNEY, JOURNEY["context_vec_2"], "journey"),
        (cat_ran(), Q_CAT, CAT["context_vec"], CAT_RAN),
    ]:
        got = simple_attention.all_context_vectors(x)
        expect_close(
            got,
            oracle.softmax(f64(x) @ f64(x).T) @ f64(x),
            what=f"all_context_vectors(inputs) for {name}",
            inputs=show(inputs=x),
            atol=FLOAT32_ATOL,
            case=Case("all_context_vectors", (x,)),
        )
        expect_close(
            got[row],
            given.value,
            what=f"{ROW[name]} of all_context_vectors(inputs) for {name}",
            source=given.source,
            atol=DOC_ATOL,
        )


@pytest.mark.exercise("all_context_vectors")
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_all_context_vectors_follow_a_permutation(simple_attention, seed):
    """Shuffling the tokens: are the context vectors shuffled the same way and otherwise equal?"""
    x = randn(seed, 5, 3)
    perm = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
    got = simple_attention.all_context_vectors(x[perm])
    expected = simple_attention.all_context_vectors(x)
    expect_that(
        isinstance(expected, torch.Tensor),
        what="all_context_vectors(inputs)",
        expected="a torch.Tensor",
        got=type(expected).__name__,
    )
    expect_close(
        got,
        f64(expected[perm]),
        what=f"all_context_vectors(inputs[perm]) against all_context_vectors(inputs)[perm], "
        f"perm = {perm.tolist()}",
        inputs=show(inputs=x),
        atol=FLOAT32_ATOL,
    )
