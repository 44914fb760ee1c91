"""Hidden checks for causal_attention: the mask, masking finished weights, -inf masking, and the
CausalAttention module.

CausalAttention is graded on what it computes with the reference's parameters loaded: in eval
mode at full length, on sequences shorter than context_length, with qkv_bias, and in train mode
with the reference's dropout draws (same forward seed). Its parameter names and its mask buffer
are checked on their own, and the book's seed-123 numbers are a separate, smaller check.
"""

from __future__ import annotations

import torch

from ..grading.student import Student
from ..grading.suite import Inputs, Reference, check, expect_parameters
from ..mistakes import Case
from .helpers import (
    JOURNEY,
    CausalClass,
    call,
    expect_book_output,
    expect_causal_buffer,
    expect_document,
    expect_gradients,
    expect_tensor,
    spec,
)

F64 = torch.float64

# ---- causal_mask ---------------------------------------------------------------------------


@check("causal_mask", weight=1)
def test_causal_mask_six_tokens(student: Student, ref: Reference) -> None:
    """Is the mask for the six journey tokens True exactly above the diagonal?"""
    got = call(student, "causal_mask", 6)
    case = Case("causal_mask", (6,))
    expect_tensor(got, ref.causal_mask(6), what="causal_mask(6)", reveal=True, case=case)


@check("causal_mask", weight=2)
def test_causal_mask_other_sizes(student: Student, ref: Reference) -> None:
    """Is it right for a single token and for a longer sequence?"""
    for n in (1, 9):
        got = call(student, "causal_mask", n)
        what, case = f"causal_mask({n})", Case("causal_mask", (n,))
        expect_tensor(got, ref.causal_mask(n), what=what, reveal=True, case=case)


# ---- mask_and_renormalize ------------------------------------------------------------------


@check("mask_and_renormalize", weight=3)
def test_mask_and_renormalize_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the journey weights masked and renormalised as in the book (section 3.5.1)?"""
    weights = ref.all_attention_weights(JOURNEY)
    what = "mask_and_renormalize on the [6, 6] journey attention weights"
    expect_document(student, ref, inputs, "mask_and_renormalize", (weights,), what=what)


@check("mask_and_renormalize", weight=4)
def test_mask_and_renormalize_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """For other sizes and batched [..., n, n] weights, does every row sum to 1 over the past?"""
    for weights in (inputs.positive(5, 5), inputs.positive(2, 3, 4, 4), inputs.positive(1, 1)):
        got = call(student, "mask_and_renormalize", weights)
        what = f"random positive weights {spec(weights)}"
        case = Case("mask_and_renormalize", (weights,))
        expect_tensor(got, ref.mask_and_renormalize(weights), what=what, case=case)


@check("mask_and_renormalize", weight=3)
def test_mask_and_renormalize_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 weights masked and renormalised right?"""
    weights = inputs.positive(4, 4, dtype=F64)
    got = call(student, "mask_and_renormalize", weights)
    what = f"random positive weights {spec(weights)}"
    case = Case("mask_and_renormalize", (weights,))
    expect_tensor(got, ref.mask_and_renormalize(weights), what=what, case=case)


# ---- causal_attention_weights --------------------------------------------------------------


@check("causal_attention_weights", weight=2)
def test_causal_attention_weights_document(
    student: Student, ref: Reference, inputs: Inputs
) -> None:
    """Are the journey scores (inputs @ inputs.T, d_k=3) turned into causal weights right?"""
    scores = ref.all_attention_scores(JOURNEY)
    what = "causal_attention_weights on the [6, 6] journey scores, d_k=3"
    expect_document(student, ref, inputs, "causal_attention_weights", (scores, 3), what=what)


@check("causal_attention_weights", weight=5)
def test_causal_attention_weights_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """For other sizes, d_k and batched scores: exactly 0 above the diagonal, rows summing to 1?"""
    cases = ((inputs.tensor(5, 5, scale=3.0), 4), (inputs.tensor(2, 3, 6, 6, scale=3.0), 8))
    cases += ((inputs.tensor(1, 1), 2),)
    for scores, d_k in cases:
        got = call(student, "causal_attention_weights", scores, d_k)
        what = f"random scores {spec(scores)}, d_k={d_k}"
        case = Case("causal_attention_weights", (scores, d_k))
        expect_tensor(got, ref.causal_attention_weights(scores, d_k), what=what, case=case)


@check("causal_attention_weights", weight=3)
def test_causal_attention_weights_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 scores turned into the right causal weights?"""
    scores = inputs.tensor(4, 4, dtype=F64, scale=3.0)
    got = call(student, "causal_attention_weights", scores, 5)
    what = f"random scores {spec(scores)}, d_k=5"
    case = Case("causal_attention_weights", (scores, 5))
    expect_tensor(got, ref.causal_attention_weights(scores, 5), what=what, case=case)


# ---- CausalAttention -----------------------------------------------------------------------

D_IN, D_OUT, CONTEXT = 4, 3, 6
CAUSAL = CausalClass("CausalAttention", D_IN, D_OUT, CONTEXT)


@check("CausalAttention", weight=2)
def test_causal_attention_parameters(student: Student, inputs: Inputs) -> None:
    """Are its parameters W_query, W_key, W_value nn.Linear weights [d_out, d_in], no bias?"""
    run = student.module("CausalAttention", D_IN, D_OUT, CONTEXT, 0.0, seed=inputs.seed())
    shapes = {f"{name}.weight": (D_OUT, D_IN) for name in ("W_query", "W_key", "W_value")}
    expect_parameters(run, shapes, what=CAUSAL.name(0.0))


@check("CausalAttention", weight=2)
def test_causal_attention_mask_buffer(student: Student, inputs: Inputs) -> None:
    """Is there a buffer `mask` [context_length, context_length], set only above the diagonal?"""
    run = student.module("CausalAttention", D_IN, D_OUT, CONTEXT, 0.0, seed=inputs.seed())
    expect_causal_buffer(run, "mask", CONTEXT, what=CAUSAL.name(0.0))


@check("CausalAttention", weight=6)
def test_causal_attention_eval(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In eval mode (dropout off) on a full-length batch, are the context vectors right?"""
    CAUSAL.expect_like_reference(student, ref, inputs, (inputs.tensor(2, CONTEXT, D_IN),))


@check("CausalAttention", weight=3)
def test_causal_attention_shorter(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the mask cut to the sequence length, for n < context_length and for one token?"""
    xs = (inputs.tensor(2, 4, D_IN), inputs.tensor(1, 1, D_IN))
    CAUSAL.expect_like_reference(student, ref, inputs, xs)


@check("CausalAttention", weight=2)
def test_causal_attention_qkv_bias(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With qkv_bias=True and the reference's weights and biases, are the outputs right?"""
    CAUSAL.expect_like_reference(
        student, ref, inputs, (inputs.tensor(2, CONTEXT, D_IN),), qkv_bias=True
    )


@check("CausalAttention", weight=3)
def test_causal_attention_train_dropout(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In train mode, is dropout applied to the attention weights, as the reference draws it?"""
    CAUSAL.expect_like_reference(
        student, ref, inputs, (inputs.tensor(2, CONTEXT, D_IN),), train=True
    )


@check("CausalAttention", weight=2)
def test_causal_attention_seed_123(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does torch.manual_seed(123) reproduce the book's CausalAttention output (section 3.5.3)?"""
    expect_book_output(
        student,
        ref,
        "CausalAttention",
        (3, 2, 6, 0.0),
        torch.stack((JOURNEY, JOURNEY)),
        inputs.positive(2, 6, 3),
        what="CausalAttention(3, 2, context_length=6, dropout=0.0) after torch.manual_seed(123)",
        hint="create nn.Linear W_query, W_key, W_value in that order, bias=qkv_bias",
        label="the journey batch [2, 6, 3] (book section 3.5.3)",
    )


# ---- what training needs: gradients, and inputs left alone -----------------------------------


@check("mask_and_renormalize", weight=2)
def test_mask_and_renormalize_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does a gradient reach the weights, and are they left unchanged?"""
    args = (inputs.positive(5, 5),)
    what = f"backward through mask_and_renormalize(attn_weights {spec(args[0])})"
    expect_gradients(student, ref, inputs, "mask_and_renormalize", args, (0,), what=what)


@check("causal_attention_weights", weight=2)
def test_causal_attention_weights_gradients(
    student: Student, ref: Reference, inputs: Inputs
) -> None:
    """Does a gradient reach the scores, and are they left unchanged?"""
    args = (inputs.tensor(2, 5, 5, scale=3.0), 4)
    what = f"backward through causal_attention_weights(scores {spec(args[0])}, d_k=4)"
    expect_gradients(student, ref, inputs, "causal_attention_weights", args, (0,), what=what)


@check("CausalAttention", weight=4)
def test_causal_attention_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's parameters, do gradients reach x and every parameter?"""
    CAUSAL.expect_gradients(student, ref, inputs, inputs.tensor(2, CONTEXT, D_IN))
