"""Hidden checks for simple_attention: scores, normalisation, softmax and context vectors.

Each exercise gets the document's own case (its printed values may be shown), random inputs of
other shapes, and float64 inputs (a float64 result is held to float64's precision). softmax_stable
also gets logits of size 1000, which softmax_naive need not survive.
"""

from __future__ import annotations

import torch

from learner.mistakes import Case

from ..grading.student import Student
from ..grading.suite import Inputs, Reference, check
from .helpers import (
    JOURNEY,
    LARGE_LOGIT_ATOL,
    MistakeEdit,
    call,
    expect_document,
    expect_gradients,
    expect_tensor,
    spec,
)

F64 = torch.float64

# ---- attention_scores ----------------------------------------------------------------------


@check("attention_scores", weight=1)
def test_attention_scores_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the scores right for other numbers of tokens and dimensions, a single token too?"""
    for n, d in ((7, 4), (1, 5)):
        x, query = inputs.tensor(n, d), inputs.tensor(d)
        got = call(student, "attention_scores", query, x)
        what = f"random query {spec(query)} against inputs {spec(x)}"
        expect_tensor(got, ref.attention_scores(query, x), what=what)


@check("attention_scores", weight=1)
def test_attention_scores_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 inputs scored right?"""
    x, query = inputs.tensor(5, 6, dtype=F64), inputs.tensor(6, dtype=F64)
    got = call(student, "attention_scores", query, x)
    what = f"random query {spec(query)} against inputs {spec(x)}"
    expect_tensor(got, ref.attention_scores(query, x), what=what)


# ---- normalize_by_sum ----------------------------------------------------------------------


@check("normalize_by_sum", weight=1)
def test_normalize_by_sum_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the journey scores divided by their sum as printed?"""
    scores = ref.attention_scores(JOURNEY[1], JOURNEY)
    what = "normalize_by_sum on the journey scores (book section 3.3.1)"
    expect_document(student, ref, inputs, "normalize_by_sum", (scores,), what=what)


@check("normalize_by_sum", weight=2)
def test_normalize_by_sum_rows(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is each row of a 2-D input divided by its own sum (the last dimension)?"""
    for scores in (inputs.positive(4, 6), inputs.positive(7)):
        got = call(student, "normalize_by_sum", scores)
        what = f"random positive scores {spec(scores)}"
        case = Case("normalize_by_sum", (scores,))
        expect_tensor(got, ref.normalize_by_sum(scores), what=what, case=case)


@check("normalize_by_sum", weight=1)
def test_normalize_by_sum_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 rows normalised right?"""
    scores = inputs.positive(3, 5, dtype=F64)
    got = call(student, "normalize_by_sum", scores)
    what, case = f"random positive scores {spec(scores)}", Case("normalize_by_sum", (scores,))
    expect_tensor(got, ref.normalize_by_sum(scores), what=what, case=case)


# ---- softmax_naive -------------------------------------------------------------------------


@check("softmax_naive", weight=1)
def test_softmax_naive_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does the softmax of the journey scores match book section 3.3.1?"""
    scores = ref.attention_scores(JOURNEY[1], JOURNEY)
    what = "softmax_naive on the journey scores (book section 3.3.1)"
    expect_document(student, ref, inputs, "softmax_naive", (scores,), what=what)


@check("softmax_naive", weight=1)
def test_softmax_naive_rows(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does every row of a 2-D input (and a 1-D one of another length) sum to 1, as softmax?"""
    for x in (inputs.tensor(4, 6, scale=3.0), inputs.tensor(7, scale=3.0)):
        got = call(student, "softmax_naive", x)
        what, case = f"random moderate logits {spec(x)}", Case("softmax_naive", (x,))
        expect_tensor(got, ref.softmax_naive(x), what=what, case=case)


@check("softmax_naive", weight=1)
def test_softmax_naive_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the softmax of float64 rows right?"""
    x = inputs.tensor(3, 5, dtype=F64, scale=3.0)
    got = call(student, "softmax_naive", x)
    what, case = f"random moderate logits {spec(x)}", Case("softmax_naive", (x,))
    expect_tensor(got, ref.softmax_naive(x), what=what, case=case)


# ---- softmax_stable ------------------------------------------------------------------------


@check("softmax_stable", weight=2)
def test_softmax_stable_last_dim(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the default dim, is it the softmax of each row (and of a 1-D input)?"""
    for x in (inputs.tensor(4, 6, scale=3.0), inputs.tensor(5, scale=3.0)):
        got = call(student, "softmax_stable", x)
        what, case = f"random logits {spec(x)}, default dim", Case("softmax_stable", (x,))
        expect_tensor(got, ref.softmax_stable(x), what=what, case=case)


@check("softmax_stable", weight=2)
def test_softmax_stable_other_dims(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does the `dim` argument choose the dimension that sums to 1?"""
    for x, dim in ((inputs.tensor(5, 3, scale=3.0), 0), (inputs.tensor(2, 3, 4, scale=3.0), 1)):
        got = call(student, "softmax_stable", x, dim=dim)
        what, case = (
            f"random logits {spec(x)}, dim={dim}",
            Case("softmax_stable", (x,), {"dim": dim}),
        )
        expect_tensor(got, ref.softmax_stable(x, dim=dim), what=what, case=case)


@check("softmax_stable", weight=2)
def test_softmax_stable_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the softmax of float64 logits right?"""
    x = inputs.tensor(3, 5, dtype=F64, scale=3.0)
    got = call(student, "softmax_stable", x)
    what, case = f"random logits {spec(x)}", Case("softmax_stable", (x,))
    expect_tensor(got, ref.softmax_stable(x), what=what, case=case)


@check("softmax_stable", weight=3)
def test_softmax_stable_large_logits(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do logits up to 1000 come back finite and right (exp(1000) is inf in float32)?"""
    x = inputs.tensor(4, 6, scale=1000.0)
    got = call(student, "softmax_stable", x)
    what = f"random logits {spec(x)} of size up to 1000 (subtract the max along dim before exp)"
    case = Case("softmax_stable", (x,))
    expect_tensor(got, ref.softmax_stable(x), what=what, atol=LARGE_LOGIT_ATOL, case=case)


@check("softmax_stable", weight=1)
def test_softmax_stable_large_negative(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do rows whose logits are all near -1000 (every exp underflows to 0) still sum to 1?"""
    x = inputs.tensor(3, 4, scale=50.0) - 1050.0
    got = call(student, "softmax_stable", x)
    what = f"random logits {spec(x)} between -1100 and -1000 (subtract the max before exp)"
    case = Case("softmax_stable", (x,))
    expect_tensor(got, ref.softmax_stable(x), what=what, atol=LARGE_LOGIT_ATOL, case=case)


# ---- context_vector ------------------------------------------------------------------------


@check("context_vector", weight=1)
def test_context_vector_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the context vector of "journey" the one book section 3.3.1 prints?"""
    weights = ref.softmax_stable(ref.attention_scores(JOURNEY[1], JOURNEY))
    what = "context_vector for inputs[1] of the journey (book section 3.3.1)"
    expect_document(student, ref, inputs, "context_vector", (weights, JOURNEY), what=what)


@check("context_vector", weight=1)
def test_context_vector_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are other weights and inputs (a single token too) combined right?"""
    for n, d in ((7, 4), (1, 3)):
        x, weights = inputs.tensor(n, d), ref.softmax_stable(inputs.tensor(n))
        got = call(student, "context_vector", weights, x)
        what = f"random weights {spec(weights)} and inputs {spec(x)}"
        expect_tensor(got, ref.context_vector(weights, x), what=what)


@check("context_vector", weight=1)
def test_context_vector_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 weights and inputs combined right?"""
    x, weights = inputs.tensor(5, 6, dtype=F64), ref.softmax_stable(inputs.tensor(5, dtype=F64))
    got = call(student, "context_vector", weights, x)
    what = f"random weights {spec(weights)} and inputs {spec(x)}"
    expect_tensor(got, ref.context_vector(weights, x), what=what)


# ---- all_attention_scores, all_attention_weights, all_context_vectors ------------------------
# The same three checks each: the journey inputs, random non-square inputs, float64 inputs.


def _document(student: Student, ref: Reference, inputs: Inputs, exercise: str) -> None:
    what = f"{exercise} on the journey inputs (book section 3.3.2)"
    expect_document(student, ref, inputs, exercise, (JOURNEY,), what=what)


def _random(student: Student, ref: Reference, inputs: Inputs, exercise: str) -> None:
    for x in (inputs.tensor(5, 3), inputs.tensor(1, 4)):
        got = call(student, exercise, x)
        what, case = f"random inputs {spec(x)}", Case(exercise, (x,))
        expect_tensor(got, getattr(ref, exercise)(x), what=what, case=case)


def _float64(student: Student, ref: Reference, inputs: Inputs, exercise: str) -> None:
    x = inputs.tensor(4, 7, dtype=F64)
    got = call(student, exercise, x)
    what, case = f"random inputs {spec(x)}", Case(exercise, (x,))
    expect_tensor(got, getattr(ref, exercise)(x), what=what, case=case)


@check("all_attention_scores", weight=1)
def test_all_attention_scores_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the [6, 6] matrix of journey scores right (row 1, journey, is printed)?"""
    _document(student, ref, inputs, "all_attention_scores")


@check("all_attention_scores", weight=1)
def test_all_attention_scores_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is it [n, n] for inputs that are not square, and for a single token?"""
    _random(student, ref, inputs, "all_attention_scores")


@check("all_attention_scores", weight=1)
def test_all_attention_scores_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the scores of float64 inputs right?"""
    _float64(student, ref, inputs, "all_attention_scores")


@check("all_attention_weights", weight=1)
def test_all_attention_weights_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the journey weights right, each row a softmax (row 1, journey, is printed)?"""
    _document(student, ref, inputs, "all_attention_weights")


@check("all_attention_weights", weight=1)
def test_all_attention_weights_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does each row sum to 1 for other inputs, a single token too?"""
    _random(student, ref, inputs, "all_attention_weights")


@check("all_attention_weights", weight=1)
def test_all_attention_weights_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the weights of float64 inputs right?"""
    _float64(student, ref, inputs, "all_attention_weights")


@check("all_context_vectors", weight=1)
def test_all_context_vectors_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the six journey context vectors right (row 1, journey, is printed)?"""
    _document(student, ref, inputs, "all_context_vectors")


@check("all_context_vectors", weight=1)
def test_all_context_vectors_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is there one right context vector per token for other inputs, a single token too?"""
    _random(student, ref, inputs, "all_context_vectors")


@check("all_context_vectors", weight=1)
def test_all_context_vectors_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the context vectors of float64 inputs right?"""
    _float64(student, ref, inputs, "all_context_vectors")


# ---- what training needs: gradients, and inputs left alone -----------------------------------
# (backward of a fixed random weighting of the output, against the reference's gradients)


@check("attention_scores", weight=1)
def test_attention_scores_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do gradients reach the query and the inputs, and are both left unchanged?"""
    args = (inputs.tensor(4), inputs.tensor(6, 4))
    what = f"backward through attention_scores(query {spec(args[0])}, inputs {spec(args[1])})"
    expect_gradients(student, ref, inputs, "attention_scores", args, (0, 1), what=what)


@check("normalize_by_sum", weight=1)
def test_normalize_by_sum_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach the scores, and are they left unchanged?"""
    args = (inputs.positive(3, 5),)
    what = f"backward through normalize_by_sum(scores {spec(args[0])})"
    expect_gradients(student, ref, inputs, "normalize_by_sum", args, (0,), what=what)


@check("softmax_naive", weight=1)
def test_softmax_naive_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach x, and is x left unchanged?"""
    args = (inputs.tensor(3, 5, scale=3.0),)
    what = f"backward through softmax_naive(x {spec(args[0])})"
    expect_gradients(student, ref, inputs, "softmax_naive", args, (0,), what=what)


@check("softmax_stable", weight=2)
def test_softmax_stable_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach x, along dim 0 and at logits near 1000 too, and is x unchanged?"""
    for x, dim in ((inputs.tensor(3, 5, scale=3.0), -1), (inputs.tensor(4, 3, scale=3.0), 0)):
        what = f"backward through softmax_stable(x {spec(x)}, dim={dim})"
        expect_gradients(student, ref, inputs, "softmax_stable", (x, dim), (0,), what=what)
    x = inputs.tensor(2, 5, scale=5.0) + 1000.0
    what = f"backward through softmax_stable(x {spec(x)} near 1000)"
    expect_gradients(student, ref, inputs, "softmax_stable", (x,), (0,), what=what)


@check("context_vector", weight=1)
def test_context_vector_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do gradients reach the weights and the inputs, and are both left unchanged?"""
    args = (inputs.positive(6), inputs.tensor(6, 4))
    what = f"backward through context_vector(attn_weights {spec(args[0])}, inputs {spec(args[1])})"
    expect_gradients(student, ref, inputs, "context_vector", args, (0, 1), what=what)


@check("all_attention_scores", weight=1)
def test_all_attention_scores_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach the inputs, and are they left unchanged?"""
    args = (inputs.tensor(6, 4),)
    what = f"backward through all_attention_scores(inputs {spec(args[0])})"
    expect_gradients(student, ref, inputs, "all_attention_scores", args, (0,), what=what)


@check("all_attention_weights", weight=1)
def test_all_attention_weights_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach the inputs, and are they left unchanged?"""
    args = (inputs.tensor(6, 4),)
    what = f"backward through all_attention_weights(inputs {spec(args[0])})"
    expect_gradients(student, ref, inputs, "all_attention_weights", args, (0,), what=what)


@check("all_context_vectors", weight=1)
def test_all_context_vectors_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach the inputs, and are they left unchanged?"""
    args = (inputs.tensor(6, 4),)
    what = f"backward through all_context_vectors(inputs {spec(args[0])})"
    expect_gradients(student, ref, inputs, "all_context_vectors", args, (0,), what=what)


# ---- each catalogued mistake, made by a minimal edit of this module's reference ------------
# tests/test_mistake_submissions.py submits each edit to make check and to these checks: both
# must name the mistake. An edit is ([(old, new)], {exercise: mistake name}); old is a line
# (or lines) of solutions/, once.

# fmt: off
SUM = "    return scores / scores.sum(dim=-1, keepdim=True)"
NAIVE = "    e = torch.exp(x)\n    return e / e.sum(dim=-1, keepdim=True)"
SHIFT = "    shifted = x - x.amax(dim=dim, keepdim=True)  # largest entry per slice becomes 0"
STABLE = "    return e / e.sum(dim=dim, keepdim=True)"
WEIGHTS = "    return torch.softmax(all_attention_scores(inputs), dim=-1)"


MISTAKE_EDITS: dict[str, MistakeEdit] = {
    "sum whole": ([(SUM, "    return scores / scores.sum()")],
                  {"normalize_by_sum": "whole tensor"}),
    "sum columns": ([(SUM, "    return scores / scores.sum(dim=0, keepdim=True)")],
                    {"normalize_by_sum": "columns"}),
    "sum no keepdim": ([(SUM, "    return scores / scores.sum(dim=-1)")],
                       {"normalize_by_sum": "no keepdim"}),
    "naive whole": ([(NAIVE, "    e = torch.exp(x)\n    return e / e.sum()")],
                    {"softmax_naive": "whole tensor"}),
    "naive columns": ([(NAIVE, "    e = torch.exp(x)\n    return e / e.sum(dim=0, keepdim=True)")],
                      {"softmax_naive": "columns"}),
    "naive no keepdim": ([(NAIVE, "    e = torch.exp(x)\n    return e / e.sum(dim=-1)")],
                         {"softmax_naive": "no keepdim"}),
    "stable no shift": ([(SHIFT, "    shifted = x")],
                        {"softmax_stable": "no max shift"}),
    "stable ignores dim": ([(SHIFT, SHIFT.replace("dim=dim", "dim=-1")),
                            (STABLE, STABLE.replace("dim=dim", "dim=-1"))],
                           {"softmax_stable": "ignores dim"}),
    "stable whole": ([(SHIFT, "    shifted = x - x.max()"), (STABLE, "    return e / e.sum()")],
                     {"softmax_stable": "whole tensor"}),
    "stable no keepdim": ([(STABLE, "    return e / e.sum(dim=dim)")],
                          {"softmax_stable": "no keepdim"}),
    "stable max no keepdim": ([(SHIFT, "    shifted = x - x.max(dim=dim).values")],
                              {"softmax_stable": "max no keepdim"}),
    "weights columns": ([(WEIGHTS, WEIGHTS.replace("dim=-1", "dim=0"))],
                        {"all_attention_weights": "columns", "all_context_vectors": "columns"}),
    "weights whole": ([(WEIGHTS, "    s = all_attention_scores(inputs)\n"
                                 "    e = torch.exp(s - s.max())\n    return e / e.sum()")],
                      {"all_attention_weights": "whole", "all_context_vectors": "whole"}),
    "weights by sum": ([(WEIGHTS, "    s = all_attention_scores(inputs)\n"
                                  "    return s / s.sum(dim=-1, keepdim=True)")],
                       {"all_attention_weights": "sum", "all_context_vectors": "sum"}),
    "weights are scores": ([(WEIGHTS, "    return all_attention_scores(inputs)")],
                           {"all_attention_weights": "scores", "all_context_vectors": "scores"}),
    "contexts are weights": ([("    return all_attention_weights(inputs) @ inputs",
                               "    return all_attention_weights(inputs)")],
                             {"all_context_vectors": "returns weights"}),
    "contexts transposed": ([("    return all_attention_weights(inputs) @ inputs",
                              "    return all_attention_weights(inputs).T @ inputs")],
                            {"all_context_vectors": "columns"}),
    "stable in place": ([(SHIFT, "    x -= x.amax(dim=dim, keepdim=True)\n    shifted = x")],
                        {"softmax_stable": "in place"}),
    "naive python floats": ([(NAIVE, "    import math\n\n    rows = [[math.exp(float(v)) for v in row] for row in x.reshape(-1, x.shape[-1])]\n"
                                     "    e = torch.tensor(rows, dtype=x.dtype).reshape(x.shape)\n    return e / e.sum(dim=-1, keepdim=True)")],
                            {"softmax_naive": "python numbers"}),
    "context no_grad": ([("    return attn_weights @ inputs  # (d,)",
                          "    with torch.no_grad():\n        return attn_weights @ inputs")],
                        {"context_vector": "no_grad"}),
}
# fmt: on
