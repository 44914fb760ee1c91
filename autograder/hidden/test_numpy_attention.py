"""Hidden checks for numpy_attention: numpy in, numpy out.

Doc 000's X with random weights (its own weights were never seeded), random non-square shapes
(so a missing keepdims cannot pass), float32 values, and scores of size 1000 for softmax_rows.
"""

from __future__ import annotations

import numpy as np

from learner.mistakes import Case

from ..grading.student import Student
from ..grading.suite import ATOL, Inputs, Reference, check
from .helpers import (
    DOC000_X,
    LARGE_LOGIT_ATOL,
    MistakeEdit,
    call,
    expect_items,
    expect_tensor,
    spec,
)

# ---- softmax_rows --------------------------------------------------------------------------


@check("softmax_rows", weight=2)
def test_softmax_rows_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the [3, 3] matrix of the numpy example's scaled scores softmaxed row by row?"""
    q, k = DOC000_X @ inputs.array(5, 4), DOC000_X @ inputs.array(5, 4)
    scores = q @ k.T / np.sqrt(4)
    got = call(student, "softmax_rows", scores)
    what = f"the scaled scores {spec(scores)} of the numpy example's X with random weights"
    expect_tensor(got, ref.softmax_rows(scores), what=what, case=Case("softmax_rows", (scores,)))


@check("softmax_rows", weight=3)
def test_softmax_rows_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does each row sum to 1 when the scores are not square, a single row and float32 too?"""
    cases = (inputs.array(4, 6, scale=3.0), inputs.array(1, 5, scale=3.0))
    cases += (inputs.array(3, 2, scale=3.0).astype(np.float32),)
    for scores in cases:
        got = call(student, "softmax_rows", scores)
        what, case = f"random scores {spec(scores)}", Case("softmax_rows", (scores,))
        expect_tensor(got, ref.softmax_rows(scores), what=what, case=case)


@check("softmax_rows", weight=3)
def test_softmax_rows_large_scores(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do scores of size 1000, positive or negative, come back finite and right?"""
    for scores in (inputs.array(3, 5, scale=1000.0), inputs.array(2, 4, scale=50.0) - 1050.0):
        got = call(student, "softmax_rows", scores)
        what = f"random scores {spec(scores)} of size 1000 (subtract each row's max before exp)"
        case = Case("softmax_rows", (scores,))
        expect_tensor(got, ref.softmax_rows(scores), what=what, atol=LARGE_LOGIT_ATOL, case=case)


# ---- self_attention_numpy ------------------------------------------------------------------


def _expect_attention(
    student: Student,
    ref: Reference,
    args: tuple[np.ndarray, ...],
    *,
    what: str,
    atol: float | None = None,
) -> None:
    got = call(student, "self_attention_numpy", *args)
    output, weights = expect_items(got, 2, what=f"{what}: (output, attention_weights)")
    want_output, want_weights = ref.self_attention_numpy(*args)
    cases = [Case("self_attention_numpy", args, item=i) for i in (0, 1)]
    expect_tensor(
        weights, want_weights, what=f"{what}, attention_weights", atol=atol, case=cases[1]
    )
    expect_tensor(output, want_output, what=f"{what}, output", atol=atol, case=cases[0])


@check("self_attention_numpy", weight=2)
def test_self_attention_numpy_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the numpy example right: its integer X, random [5, 4] weights, output and weights?"""
    weights = tuple(inputs.array(5, 4) for _ in range(3))
    what = f"the numpy example's X {spec(DOC000_X)} with random weights {spec(weights[0])}"
    _expect_attention(student, ref, (DOC000_X, *weights), what=what)


@check("self_attention_numpy", weight=3)
def test_self_attention_numpy_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With d_v != d_k (scale by sqrt(d_k), K's columns), are both results right, one token too?"""
    w_q, w_k, w_v = inputs.array(5, 4), inputs.array(5, 4), inputs.array(5, 3)
    for x in (inputs.array(6, 5), inputs.array(1, 5)):
        what = f"random X {spec(x)}, W_Q and W_K {spec(w_q)}, W_V {spec(w_v)}"
        _expect_attention(student, ref, (x, w_q, w_k, w_v), what=what)


@check("self_attention_numpy", weight=1)
def test_self_attention_numpy_float32(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float32 inputs handled (values to float32 precision)?"""
    x, *weights = (inputs.array(*shape).astype(np.float32) for shape in ((4, 5), *[(5, 4)] * 3))
    what = f"random X {spec(x)} and weights {spec(weights[0])}"
    # the reference's np.sqrt makes float64 of it: compare at float32's precision all the same
    _expect_attention(student, ref, (x, *weights), what=what, atol=ATOL)


# ---- each catalogued mistake, made by a minimal edit of this module's reference ------------
# tests/test_mistake_submissions.py submits each edit to make check and to these checks: both
# must name the mistake. An edit is ([(old, new)], {exercise: mistake name}); old is a line
# (or lines) of solutions/, once.

# fmt: off
ROWS_SHIFT = "    shifted = scores - scores.max(axis=1, keepdims=True)"
ROWS_SUM = "    return e / e.sum(axis=1, keepdims=True)"
NP_SCALED = "    scaled = Q @ K.T / np.sqrt(K.shape[1])  # (n, n)"


MISTAKE_EDITS: dict[str, MistakeEdit] = {
    "rows no keepdims": ([(ROWS_SUM, "    return e / e.sum(axis=1)")],
                         {"softmax_rows": "no keepdims", "self_attention_numpy": "no keepdims"}),
    "rows no keepdims twice": ([(ROWS_SHIFT, "    shifted = scores - scores.max(axis=1)"),
                                (ROWS_SUM, "    return e / e.sum(axis=1)")],
                               {"softmax_rows": "no keepdims twice",
                                "self_attention_numpy": "no keepdims twice"}),
    "rows axis 0": ([(ROWS_SHIFT, ROWS_SHIFT.replace("axis=1", "axis=0")),
                     (ROWS_SUM, ROWS_SUM.replace("axis=1", "axis=0"))],
                    {"softmax_rows": "axis 0", "self_attention_numpy": "axis 0"}),
    "rows whole": ([(ROWS_SHIFT, "    shifted = scores - scores.max()"),
                    (ROWS_SUM, "    return e / e.sum()")],
                   {"softmax_rows": "whole"}),
    "rows no shift": ([(ROWS_SHIFT, "    shifted = scores")],
                      {"softmax_rows": "no shift"}),
    "numpy none": ([(NP_SCALED, "    scaled = Q @ K.T  # (n, n)")],
                   {"self_attention_numpy": "none"}),
    "numpy d_k": ([(NP_SCALED, "    scaled = Q @ K.T / K.shape[1]  # (n, n)")],
                  {"self_attention_numpy": "d_k"}),
    "numpy d_v": ([(NP_SCALED, NP_SCALED.replace("K.shape", "V.shape"))],
                  {"self_attention_numpy": "sqrt d_v"}),
    "numpy d": ([(NP_SCALED, NP_SCALED.replace("K.shape", "X.shape"))],
                {"self_attention_numpy": "sqrt d"}),
    "numpy kv": ([("    Q, K, V = X @ W_Q, X @ W_K, X @ W_V", "    Q, V, K = X @ W_Q, X @ W_K, X @ W_V")],
                 {"self_attention_numpy": "kv"}),
    "numpy pair": ([("    return weights @ V, weights", "    return weights, weights @ V")],
                   {"self_attention_numpy": "pair"}),
}
# fmt: on
