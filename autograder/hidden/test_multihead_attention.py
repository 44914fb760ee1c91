"""Hidden checks for multihead_attention: the wrapper of CausalAttention heads and the module
that splits one projection into heads.

Both are graded on what they compute with the reference's parameters loaded (eval mode at full
length, shorter sequences, qkv_bias, train-mode dropout with the reference's seed), on their
structure (heads in a ModuleList, parameter names, the mask buffer), and, separately and for
fewer points, on the book's seed-123 numbers. The book's exercises 3.2 and 3.3 build them with
other arguments: graded against the student's own classes (see below).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from learner.compare import mismatch

from ..grading.student import Student, StudentError
from ..grading.suite import Inputs, Reference, as_array, check, expect_parameters
from .helpers import (
    HEADS,
    JOURNEY,
    CausalClass,
    MistakeEdit,
    expect_book_output,
    expect_causal_buffer,
    expect_raises,
    expect_submodules,
    spec,
)

BOOK_BATCH = torch.stack((JOURNEY, JOURNEY))  # book section 3.5.3: batch = torch.stack(...)
BOOK = "the journey batch [2, 6, 3]"
LAYERS = ("W_query", "W_key", "W_value")

# ---- MultiHeadAttentionWrapper -------------------------------------------------------------

W_IN, W_OUT, W_CONTEXT, W_HEADS = 4, 3, 6, 3
WRAPPER = CausalClass("MultiHeadAttentionWrapper", W_IN, W_OUT, W_CONTEXT, W_HEADS)


@check("MultiHeadAttentionWrapper", weight=3)
def test_wrapper_structure(student: Student, inputs: Inputs) -> None:
    """Are the heads CausalAttention modules in an nn.ModuleList named `heads`?"""
    run = student.module(
        "MultiHeadAttentionWrapper", W_IN, W_OUT, W_CONTEXT, 0.0, W_HEADS, seed=inputs.seed()
    )
    what = WRAPPER.name(0.0)
    heads = {f"heads.{i}": "CausalAttention" for i in range(W_HEADS)}
    expect_submodules(run, {"heads": "ModuleList", **heads}, what=what)
    shapes = {
        f"heads.{i}.{layer}.weight": (W_OUT, W_IN) for i in range(W_HEADS) for layer in LAYERS
    }
    expect_parameters(run, shapes, what=what)


@check("MultiHeadAttentionWrapper", weight=5)
def test_wrapper_eval(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In eval mode on a full-length batch, are the heads' outputs side by side on the last dim?"""
    WRAPPER.expect_like_reference(student, ref, inputs, (inputs.tensor(2, W_CONTEXT, W_IN),))


@check("MultiHeadAttentionWrapper", weight=2)
def test_wrapper_shorter(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does it work for n < context_length and for a single token?"""
    xs = (inputs.tensor(2, 4, W_IN), inputs.tensor(1, 1, W_IN))
    WRAPPER.expect_like_reference(student, ref, inputs, xs)


@check("MultiHeadAttentionWrapper", weight=1)
def test_wrapper_qkv_bias(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is qkv_bias passed on to every head?"""
    xs = (inputs.tensor(2, W_CONTEXT, W_IN),)
    WRAPPER.expect_like_reference(student, ref, inputs, xs, qkv_bias=True)


@check("MultiHeadAttentionWrapper", weight=2)
def test_wrapper_train_dropout(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In train mode, do the heads run in order with dropout on their weights, as the reference?"""
    xs = (inputs.tensor(2, W_CONTEXT, W_IN),)
    WRAPPER.expect_like_reference(student, ref, inputs, xs, train=True)


@check("MultiHeadAttentionWrapper", weight=3)
def test_wrapper_seed_123(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does torch.manual_seed(123) reproduce the book's wrapper output (section 3.6.1)?"""
    expect_book_output(
        student,
        ref,
        "MultiHeadAttentionWrapper",
        (3, 2, 6, 0.0, 2),
        BOOK_BATCH,
        inputs.positive(*BOOK_BATCH.shape),
        what="MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=2) after torch.manual_seed(123)",
        hint="build the heads one after another, each a CausalAttention(d_in, d_out, ...)",
        label=f"{BOOK} (book section 3.6.1)",
    )


# ---- MultiHeadAttention --------------------------------------------------------------------

M_IN, M_OUT, M_CONTEXT, M_HEADS = 4, 6, 5, 3  # head_dim 2
MHA = CausalClass("MultiHeadAttention", M_IN, M_OUT, M_CONTEXT, M_HEADS)


@check("MultiHeadAttention", weight=2)
def test_mha_parameters(student: Student, inputs: Inputs) -> None:
    """Are its parameters W_query, W_key, W_value [d_out, d_in] and out_proj (with a bias)?"""
    run = student.module(
        "MultiHeadAttention", M_IN, M_OUT, M_CONTEXT, 0.0, M_HEADS, seed=inputs.seed()
    )
    shapes = {f"{layer}.weight": (M_OUT, M_IN) for layer in LAYERS}
    shapes |= {"out_proj.weight": (M_OUT, M_OUT), "out_proj.bias": (M_OUT,)}
    expect_parameters(run, shapes, what=MHA.name(0.0))


@check("MultiHeadAttention", weight=1)
def test_mha_mask_buffer(student: Student, inputs: Inputs) -> None:
    """Is there a buffer `mask` [context_length, context_length], set only above the diagonal?"""
    run = student.module(
        "MultiHeadAttention", M_IN, M_OUT, M_CONTEXT, 0.0, M_HEADS, seed=inputs.seed()
    )
    expect_causal_buffer(run, "mask", M_CONTEXT, what=MHA.name(0.0))


@check("MultiHeadAttention", weight=2)
def test_mha_not_divisible(student: Student) -> None:
    """Is d_out not divisible by num_heads refused with a ValueError (or an assert)?"""
    what = "MultiHeadAttention(4, d_out=5, context_length=6, dropout=0.0, num_heads=2)"
    try:
        student.module("MultiHeadAttention", 4, 5, 6, 0.0, 2)
    except StudentError as e:
        expect_raises(e, ("ValueError", "AssertionError"), what=what)
        return
    raise AssertionError(
        f"{what} was built without an error; raise ValueError when d_out % num_heads != 0"
    )


@check("MultiHeadAttention", weight=5)
def test_mha_eval(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In eval mode on full-length batches, are the outputs right?"""
    MHA.expect_like_reference(student, ref, inputs, (inputs.tensor(3, M_CONTEXT, M_IN),))


@check("MultiHeadAttention", weight=3)
def test_mha_shorter(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is the mask cut to the sequence length, for n < context_length and for one token?"""
    xs = (inputs.tensor(2, 3, M_IN), inputs.tensor(1, 1, M_IN))
    MHA.expect_like_reference(student, ref, inputs, xs)


@check("MultiHeadAttention", weight=2)
def test_mha_qkv_bias(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With qkv_bias=True and the reference's weights and biases, are the outputs right?"""
    MHA.expect_like_reference(
        student, ref, inputs, (inputs.tensor(2, M_CONTEXT, M_IN),), qkv_bias=True
    )


@check("MultiHeadAttention", weight=2)
def test_mha_train_dropout(student: Student, ref: Reference, inputs: Inputs) -> None:
    """In train mode, is dropout applied to the attention weights, as the reference draws it?"""
    MHA.expect_like_reference(
        student, ref, inputs, (inputs.tensor(2, M_CONTEXT, M_IN),), train=True
    )


@check("MultiHeadAttention", weight=3)
def test_mha_seed_123(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does torch.manual_seed(123) reproduce the book's MultiHeadAttention output (3.6.2)?"""
    expect_book_output(
        student,
        ref,
        "MultiHeadAttention",
        (3, 2, 6, 0.0, 2),
        BOOK_BATCH,
        inputs.positive(*BOOK_BATCH.shape),
        what="MultiHeadAttention(3, 2, 6, 0.0, num_heads=2) after torch.manual_seed(123)",
        hint="create nn.Linear W_query, W_key, W_value, then out_proj, in that order",
        label=f"{BOOK} (book section 3.6.2)",
    )


# ---- the book's exercises 3.2 and 3.3: the classes above, built with the right arguments -----
#
# Graded against the student's own class built with the book's arguments, so a mistake inside
# MultiHeadAttentionWrapper or MultiHeadAttention costs points there only. Weights are not
# compared (a factory may seed torch first, as the book does before building a module): the
# own class takes the factory's state_dict and must then give the same outputs.


def _expect_built_as(
    student: Student,
    exercise: str,
    args: tuple[Any, ...],
    own: str,
    own_args: tuple[Any, ...],
    *,
    inputs: tuple[Tensor, ...],
    seed: int,
    train: bool = False,
    outputs: bool = True,
    what: str,
) -> None:
    """`exercise(*args)` is the student's own class `own(*own_args)`: the same submodules and
    parameter and buffer shapes, and (with `outputs`) the same outputs on `inputs` once
    `own(*own_args)` holds its parameters and buffers. The class is judged by the exercise's
    off-limits rule: its own checks judge it by its own. Checks of one exercise that ask for
    the same builds share them (`reuse`): a check without `outputs` stands even if forward
    raises."""
    run = {"seed": seed, "inputs": inputs, "train": train, "forward_seed": seed if train else None}
    got = student.module(exercise, *args, shapes=True, like=(own, own_args), reuse=True, **run)
    want = got.twin
    assert want is not None
    called = f"your {own}({', '.join(map(repr, own_args))})"
    if got.submodules != want.submodules:
        raise AssertionError(f"{what}: its layers are not those of {called}")
    for kind, mine, theirs in (
        ("parameter", got.parameter_shapes, want.parameter_shapes),
        ("buffer", got.buffer_shapes, want.buffer_shapes),
    ):
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                said = list(mine[name]) if name in mine else "none"
                wanted = list(theirs[name]) if name in theirs else "none"
                raise AssertionError(
                    f"{what}: its {kind} {name} is {said}, that of {called} is {wanted}"
                )
    if not outputs:
        return
    for failed in (got.forward_error, want.load_error, want.forward_error):
        if failed is not None:
            raise failed
    for x, mine_out, theirs_out in zip(inputs, got.outputs, want.outputs, strict=True):
        a, b = as_array(mine_out, what=what), as_array(theirs_out, what=called)
        problem = mismatch(a, b, atol=0.0)
        if problem:
            raise AssertionError(
                f"{what}: on x {spec(x)} its output is not that of {called} holding the same "
                f"weights: {problem}"
            )


@check("two_dimensional_wrapper", weight=2)
def test_two_dimensional_wrapper_built(student: Student, inputs: Inputs) -> None:
    """Is it your MultiHeadAttentionWrapper with two heads one feature wide each (so its context
    vectors are 2-dimensional)?"""
    args = (W_IN, W_CONTEXT, 0.0)
    _expect_built_as(
        student,
        "two_dimensional_wrapper",
        args,
        "MultiHeadAttentionWrapper",
        (W_IN, 1, W_CONTEXT, 0.0, 2),
        inputs=(inputs.tensor(2, W_CONTEXT, W_IN),),
        seed=inputs.seed(),
        what=f"two_dimensional_wrapper({W_IN}, {W_CONTEXT}, 0.0)",
    )


@check("two_dimensional_wrapper", weight=1)
def test_two_dimensional_wrapper_dropout(student: Student, inputs: Inputs) -> None:
    """Is its dropout the one it is given (the same output as your wrapper's in train mode)?"""
    _expect_built_as(
        student,
        "two_dimensional_wrapper",
        (W_IN, W_CONTEXT, 0.5),
        "MultiHeadAttentionWrapper",
        (W_IN, 1, W_CONTEXT, 0.5, 2),
        inputs=(inputs.tensor(2, W_CONTEXT, W_IN),),
        seed=inputs.seed(),
        train=True,
        what=f"two_dimensional_wrapper({W_IN}, {W_CONTEXT}, 0.5) in train mode",
    )


GPT2_ARGS = (768, 768, 1024, 0.0, 12)  # d_in, d_out, context_length, dropout, num_heads
GPT2_SEED = 33  # one seed and input for every student: the request is the same for all
GPT2_X = torch.randn(1, 5, 768, generator=torch.Generator().manual_seed(GPT2_SEED))


@check("gpt2_small_attention", weight=2)
def test_gpt2_small_attention_sizes(student: Student, inputs: Inputs) -> None:
    """Is it your MultiHeadAttention with GPT-2 small's sizes: 768 features in and out, a context
    of 1024 tokens, no qkv biases?"""
    _expect_built_as(
        student,
        "gpt2_small_attention",
        (),
        "MultiHeadAttention",
        GPT2_ARGS,
        inputs=(GPT2_X,),  # the requests of the heads check: built once for both
        seed=GPT2_SEED,
        outputs=False,
        what="gpt2_small_attention()",
    )


@check("gpt2_small_attention", weight=1)
def test_gpt2_small_attention_heads(student: Student, inputs: Inputs) -> None:
    """Does it split into GPT-2 small's 12 heads (the output of your MultiHeadAttention with
    num_heads=12, on 5 tokens)?"""
    _expect_built_as(
        student,
        "gpt2_small_attention",
        (),
        "MultiHeadAttention",
        GPT2_ARGS,
        inputs=(GPT2_X,),
        seed=GPT2_SEED,
        what="gpt2_small_attention()",
    )


# ---- what training needs: gradients, and inputs left alone -----------------------------------


@check("MultiHeadAttentionWrapper", weight=4)
def test_wrapper_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's parameters, do gradients reach x and every head's parameters?"""
    WRAPPER.expect_gradients(student, ref, inputs, inputs.tensor(2, W_CONTEXT, W_IN))


@check("MultiHeadAttention", weight=4)
def test_mha_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's parameters, do gradients reach x and every parameter?"""
    MHA.expect_gradients(student, ref, inputs, inputs.tensor(2, M_CONTEXT, M_IN))


# ---- each catalogued mistake, made by a minimal edit of this module's reference ------------
# tests/test_mistake_submissions.py submits each edit to make check and to these checks: both
# must name the mistake. An edit is ([(old, new)], {exercise: mistake name}); old is a line
# (or lines) of solutions/, once.

# fmt: off
MHA_SCALE = "        weights = torch.softmax(scores / self.head_dim**0.5, dim=-1)"
MHA_FILL = "        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / self.head"
MHA_MASK = "torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), 1)"
MHA_MERGE = "        context = (weights @ values).transpose(1, 2)  # (b, n, h, head_dim)"
MHA_CUT = "        future = self.mask.bool()[:num_tokens, :num_tokens]  # (n, n)\n        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / self.head"


MISTAKE_EDITS: dict[str, MistakeEdit] = {
    "concat batch": ([("for head in self.heads], dim=-1)", "for head in self.heads], dim=0)")],
                     {HEADS: "concat batch"}),
    "concat tokens": ([("for head in self.heads], dim=-1)", "for head in self.heads], dim=1)")],
                      {HEADS: "concat tokens"}),
    "mha no out_proj": ([("        return self.out_proj(context)\n",
                                                 "        return context\n")],
                        {"MultiHeadAttention": "no out_proj"}),
    "mha split view": ([("t = t.view(b, num_tokens, self.num_heads, self.head_dim)",
                         "t = t.view(b, self.num_heads, num_tokens, self.head_dim)"),
                        ("            return t.transpose(1, 2)", "            return t")],
                       {"MultiHeadAttention": "split view"}),
    "mha merge view": ([(MHA_MERGE, "        context = weights @ values")],
                       {"MultiHeadAttention": "merge view"}),
    "mha d_out": ([(MHA_SCALE, MHA_SCALE.replace("self.head_dim", "self.d_out"))],
                  {"MultiHeadAttention": "sqrt d_out"}),
    "mha head_dim": ([(MHA_SCALE, MHA_SCALE.replace("**0.5", ""))],
                     {"MultiHeadAttention": "head_dim"}),
    "mha none": ([(MHA_SCALE, MHA_SCALE.replace(" / self.head_dim**0.5", ""))],
                 {"MultiHeadAttention": "none"}),
    "mha zero": ([(MHA_FILL, MHA_FILL.replace("-torch.inf", "0.0"))],
                 {"MultiHeadAttention": "zero"}),
    **{
        f"mha mask {name}": ([(MHA_MASK, mask)], {"MultiHeadAttention": name})
        for name, mask in (
            ("with diagonal", MHA_MASK.replace(", 1)", ", 0)")),
            ("past", MHA_MASK.replace("triu", "tril").replace(", 1)", ", -1)")),
            ("past and diagonal", MHA_MASK.replace("triu", "tril").replace(", 1)", ", 0)")),
        )
    },
    "mha no mask": ([(MHA_FILL, MHA_FILL.replace("scores.masked_fill(future, -torch.inf)", "scores"))],
                    {"MultiHeadAttention": "no mask"}),
    "mha not cut": ([(MHA_CUT, MHA_CUT.replace("self.mask.bool()[:num_tokens, :num_tokens]", "self.mask.bool()"))],
                    {"MultiHeadAttention": "not cut"}),
    "mha dropout context": ([("        weights = self.dropout(weights)\n" + MHA_MERGE, MHA_MERGE),
                             ("        return self.out_proj(context)\n",
                              "        return self.out_proj(self.dropout(context))\n")],
                            {"MultiHeadAttention": "dropout context"}),
    "mha dropout output": ([("        weights = self.dropout(weights)\n" + MHA_MERGE, MHA_MERGE),
                            ("        return self.out_proj(context)\n",
                             "        return self.dropout(self.out_proj(context))\n")],
                           {"MultiHeadAttention": "dropout output"}),
    "mha detached": ([("        return self.out_proj(context)\n",
                       "        return self.out_proj(context).detach()\n")],
                     {"MultiHeadAttention": "detached"}),
}
# fmt: on
