"""Hidden checks for causal_attention: the mask, masking finished weights, -inf masking, and the
CausalAttention module.

CausalAttention is graded on what it computes with the reference's parameters loaded: in eval
mode at full length, on sequences shorter than context_length, with qkv_bias, and in train mode
with the reference's dropout draws (same forward seed). Its parameter names and its mask buffer
are checked on their own, and the book's seed-123 numbers are a separate, smaller check.
"""

from __future__ import annotations

import torch

from learner.mistakes import Case

from ..grading.student import Student
from ..grading.suite import Inputs, Reference, check, expect_parameters
from .helpers import (
    HEADS,
    JOURNEY,
    CausalClass,
    MistakeEdit,
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


# ---- each catalogued mistake, made by a minimal edit of this module's reference ------------
# tests/test_mistake_submissions.py submits each edit to make check and to these checks: both
# must name the mistake. An edit is ([(old, new)], {exercise: mistake name}); old is a line
# (or lines) of solutions/, once.

# fmt: off
TRIU = "torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)"
RENORM = "    return masked / masked.sum(dim=-1, keepdim=True)"
CAUSAL_W = "    return torch.softmax(masked / d_k**0.5, dim=-1)"
CA_FILL = "        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / keys"
CA_SCALE = "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)"
CA_BUFFER = '        self.register_buffer("mask", causal_mask(context_length))'
CA_KV = "        keys = self.W_key(x)  # (b, n, d_out)\n        values = self.W_value(x)  # (b, n, d_out)"
CA_SCORES = "        scores = queries @ keys.transpose(-2, -1)  # (b, n, n)"
CA_RETURN = "        return weights @ values  # (b, n, d_out)"


def _heads_too(name: str, edits: list[tuple[str, str]]) -> MistakeEdit:
    """A CausalAttention edit: the wrapper's heads make the same mistake."""
    return (edits, {"CausalAttention": name, HEADS: f"heads: {name}"})


MISTAKE_EDITS: dict[str, MistakeEdit] = {
    **{
        f"mask {name}": ([(TRIU, triu)], {
            "causal_mask": name, "mask_and_renormalize": name, "causal_attention_weights": name,
            "CausalAttention": name, HEADS: f"heads: {name}"})
        for name, triu in (
            ("with diagonal", TRIU.replace("diagonal=1", "diagonal=0")),
            ("past", TRIU.replace("triu", "tril").replace("diagonal=1", "diagonal=-1")),
            ("past and diagonal", TRIU.replace("triu", "tril").replace("diagonal=1", "diagonal=0")),
        )
    },
    "renorm none": ([(RENORM, "    return masked")],
                    {"mask_and_renormalize": "no renormalise"}),
    "renorm whole": ([(RENORM, "    return masked / masked.sum()")],
                     {"mask_and_renormalize": "whole sum"}),
    "renorm columns": ([(RENORM, RENORM.replace("dim=-1", "dim=-2"))],
                       {"mask_and_renormalize": "columns"}),
    "renorm no keepdim": ([(RENORM, "    return masked / masked.sum(dim=-1)")],
                          {"mask_and_renormalize": "no keepdim"}),
    "causal zero": ([("causal_mask(scores.shape[-1]), -torch.inf)", "causal_mask(scores.shape[-1]), 0.0)")],
                    {"causal_attention_weights": "zero"}),
    "causal after softmax": ([("    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)\n"
                               + CAUSAL_W,
                               "    weights = torch.softmax(scores / d_k**0.5, dim=-1)\n"
                               "    return weights.masked_fill(causal_mask(scores.shape[-1]), 0.0)")],
                             {"causal_attention_weights": "after softmax"}),
    "causal no mask": ([("    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)",
                         "    masked = scores")],
                       {"causal_attention_weights": "no mask"}),
    "causal d_k": ([(CAUSAL_W, CAUSAL_W.replace("d_k**0.5", "d_k"))],
                   {"causal_attention_weights": "d_k"}),
    "causal none": ([(CAUSAL_W, CAUSAL_W.replace(" / d_k**0.5", ""))],
                    {"causal_attention_weights": "none"}),
    "causal times": ([(CAUSAL_W, CAUSAL_W.replace("/ d_k", "* d_k"))],
                     {"causal_attention_weights": "times"}),
    "causal columns": ([(CAUSAL_W, CAUSAL_W.replace("dim=-1", "dim=-2"))],
                       {"causal_attention_weights": "columns"}),
    "module zero": _heads_too("zero", [(CA_FILL, CA_FILL.replace("-torch.inf", "0.0"))]),
    "module d_k": _heads_too("d_k", [(CA_SCALE, CA_SCALE.replace(" ** 0.5", ""))]),
    "module none": _heads_too("none", [(CA_SCALE, CA_SCALE.replace(" / keys.shape[-1] ** 0.5", ""))]),
    "module d_in": _heads_too("sqrt d_in", [(CA_SCALE, CA_SCALE.replace("keys.shape", "x.shape"))]),
    **{
        f"module mask {name}": _heads_too(name, [(CA_BUFFER, CA_BUFFER.replace(
            "causal_mask(context_length)", mask))])
        for name, mask in (
            ("with diagonal", "torch.triu(torch.ones(context_length, context_length), 0)"),
            ("past", "torch.tril(torch.ones(context_length, context_length), -1)"),
            ("past and diagonal", "torch.tril(torch.ones(context_length, context_length), 0)"),
        )
    },
    "module no mask": _heads_too("no mask", [(CA_FILL, CA_FILL.replace(
        "scores.masked_fill(future, -torch.inf)", "scores"))]),
    "module not cut": _heads_too("not cut", [("self.mask.bool()[:num_tokens, :num_tokens]", "self.mask.bool()")]),
    "module kv": _heads_too("kv", [(CA_KV, CA_KV.replace("self.W_key(x)", "KEY").replace(
        "self.W_value(x)", "self.W_key(x)").replace("KEY", "self.W_value(x)"))]),
    "module qk": _heads_too("qk", [(CA_SCORES, CA_SCORES.replace("queries @ keys", "keys @ queries"))]),
    "module columns": _heads_too("columns", [(CA_SCALE, CA_SCALE.replace("dim=-1", "dim=-2"))]),
    "module weights": _heads_too("weights", [(CA_RETURN, "        return weights  # (b, n, n)")]),
    "module dropout": ([("        weights = self.dropout(weights)\n" + CA_RETURN,
                         "        return self.dropout(weights @ values)  # (b, n, d_out)")],
                       {"CausalAttention": "dropout context", HEADS: "heads: dropout context"}),
}
# fmt: on
