"""Hidden checks for trainable_attention: projections, scaled weights, self-attention, and the
two modules.

The functions get doc 001's case, random inputs with d_in != d_out (so a transposed weight
cannot pass), and float64 inputs. The modules are graded on what they compute with the
reference's parameters loaded; that the same seed reproduces the book's numbers is a separate,
smaller check.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from learner.compare import mismatch
from learner.mistakes import Case, diagnose

from ..grading.protocol import Value
from ..grading.student import Student
from ..grading.suite import (
    ATOL64,
    Inputs,
    Reference,
    as_array,
    check,
    expect_parameters,
    looks_like,
)
from .helpers import (
    BOOK_WEIGHTS,
    JOURNEY,
    WARS,
    MistakeEdit,
    build,
    call,
    expect_book_output,
    expect_document,
    expect_gradients,
    expect_items,
    expect_loaded,
    expect_module_gradients,
    expect_outputs,
    expect_state,
    expect_tensor,
    forward,
    module_cases,
    run_module,
    spec,
    state_entries,
    state_of,
)

F64 = torch.float64
D_IN, D_OUT = 4, 3  # not square: x @ W.T fails, W_query.weight is [3, 4]

# ---- qkv_projections -----------------------------------------------------------------------


def _expect_projections(
    got: Value,
    expected: tuple[Tensor, ...],
    *,
    what: str,
    reveal: bool = False,
    case: Case | None = None,
) -> None:
    items = expect_items(got, 3, what=what)
    names = ("queries", "keys", "values")
    for i, (name, item, want) in enumerate(zip(names, items, expected, strict=True)):
        one = replace(case, item=i) if case else None
        expect_tensor(item, want, what=f"{what}, {name}", reveal=reveal, case=one)


@check("qkv_projections", weight=1)
def test_qkv_projections_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the keys and values of "wars not make one great" reproduced (seed 123 weights)?"""
    what = 'qkv_projections on "wars not make one great" with its torch.manual_seed(123) weights'
    args = (WARS, *BOOK_WEIGHTS)
    expect_document(
        student, ref, inputs, "qkv_projections", args, what=what, compare=_expect_projections
    )


@check("qkv_projections", weight=1)
def test_qkv_projections_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is x @ W right when W is not square ([d_in, d_out]), for one token too?"""
    weights = tuple(inputs.tensor(D_IN, D_OUT) for _ in range(3))
    for x in (inputs.tensor(6, D_IN), inputs.tensor(1, D_IN)):
        got = call(student, "qkv_projections", x, *weights)
        what = f"random x {spec(x)} and weights {spec(weights[0])}"
        case = Case("qkv_projections", (x, *weights))
        _expect_projections(got, ref.qkv_projections(x, *weights), what=what, case=case)


@check("qkv_projections", weight=1)
def test_qkv_projections_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 inputs and weights projected right?"""
    weights = tuple(inputs.tensor(D_IN, D_OUT, dtype=F64) for _ in range(3))
    x = inputs.tensor(5, D_IN, dtype=F64)
    got = call(student, "qkv_projections", x, *weights)
    what = f"random x {spec(x)} and weights {spec(weights[0])}"
    case = Case("qkv_projections", (x, *weights))
    _expect_projections(got, ref.qkv_projections(x, *weights), what=what, case=case)


# ---- scaled_attention_weights --------------------------------------------------------------


@check("scaled_attention_weights", weight=2)
def test_scaled_attention_weights_document(
    student: Student, ref: Reference, inputs: Inputs
) -> None:
    """Are the example's scores for query 2, scaled by sqrt(2), turned into the printed weights?"""
    w_query, w_key, _ = BOOK_WEIGHTS
    scores = (WARS[1] @ w_query) @ (WARS @ w_key).T
    what = 'scaled_attention_weights(attn_scores_2, d_k=2) of "wars not make one great"'
    expect_document(student, ref, inputs, "scaled_attention_weights", (scores, 2), what=what)


@check("scaled_attention_weights", weight=3)
def test_scaled_attention_weights_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """For other d_k and batched scores, is it softmax(scores / sqrt(d_k)) along each row?"""
    for scores, d_k in (
        (inputs.tensor(5, 7, scale=3.0), 5),
        (inputs.tensor(2, 4, 4, scale=3.0), 8),
    ):
        got = student.call("scaled_attention_weights", scores, d_k)
        what = f"random scores {spec(scores)}, d_k={d_k}"
        case = Case("scaled_attention_weights", (scores, d_k))
        expect_tensor(got, ref.scaled_attention_weights(scores, d_k), what=what, case=case)


@check("scaled_attention_weights", weight=3)
def test_scaled_attention_weights_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 scores turned into the right weights?"""
    scores = inputs.tensor(4, 4, dtype=F64, scale=3.0)
    got = student.call("scaled_attention_weights", scores, 3)
    what = f"random scores {spec(scores)}, d_k=3"
    case = Case("scaled_attention_weights", (scores, 3))
    expect_tensor(got, ref.scaled_attention_weights(scores, 3), what=what, case=case)


# ---- self_attention ------------------------------------------------------------------------


@check("self_attention", weight=3)
def test_self_attention_document(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are the context vectors of "wars not make one great" reproduced (seed 123 weights)?"""
    what = 'self_attention on "wars not make one great" with its torch.manual_seed(123) weights'
    expect_document(student, ref, inputs, "self_attention", (WARS, *BOOK_WEIGHTS), what=what)


@check("self_attention", weight=4)
def test_self_attention_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With d_in != d_out and random weights, are the context vectors right, for one token too?"""
    weights = tuple(inputs.tensor(D_IN, D_OUT) for _ in range(3))
    for x in (inputs.tensor(6, D_IN), inputs.tensor(1, D_IN)):
        got = call(student, "self_attention", x, *weights)
        what = f"random x {spec(x)} and weights {spec(weights[0])}"
        case = Case("self_attention", (x, *weights))
        expect_tensor(got, ref.self_attention(x, *weights), what=what, case=case)


@check("self_attention", weight=3)
def test_self_attention_float64(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Are float64 inputs and weights handled right?"""
    weights = tuple(inputs.tensor(D_IN, D_OUT, dtype=F64) for _ in range(3))
    x = inputs.tensor(5, D_IN, dtype=F64)
    got = call(student, "self_attention", x, *weights)
    what = f"random x {spec(x)} and weights {spec(weights[0])}"
    case = Case("self_attention", (x, *weights))
    expect_tensor(got, ref.self_attention(x, *weights), what=what, case=case)


# ---- SelfAttention_v1 ----------------------------------------------------------------------

V1 = f"SelfAttention_v1({D_IN}, {D_OUT})"


@check("SelfAttention_v1", weight=1)
def test_selfattention_v1_parameters(student: Student, inputs: Inputs) -> None:
    """Are its parameters W_query, W_key and W_value, each [d_in, d_out]?"""
    run = student.module("SelfAttention_v1", D_IN, D_OUT, seed=inputs.seed())
    shapes = {name: (D_IN, D_OUT) for name in ("W_query", "W_key", "W_value")}
    expect_parameters(run, shapes, what=V1)


@check("SelfAttention_v1", weight=3)
def test_selfattention_v1_loaded(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's weights loaded, are the context vectors right, for one token too?"""
    model = build(ref.SelfAttention_v1, D_IN, D_OUT, seed=inputs.seed())
    xs = (inputs.tensor(6, D_IN), inputs.tensor(1, D_IN))
    state = state_of(model)
    cases = module_cases("SelfAttention_v1", (D_IN, D_OUT), xs, state)
    run = run_module(student, "SelfAttention_v1", D_IN, D_OUT, cases=cases, inputs=xs, state=state)
    what = f"{V1} with the reference's weights"
    expect_loaded(run, what=what)
    labels = [f"random x {spec(x)}" for x in xs]
    expect_outputs(run, forward(model, xs), labels, what=what, cases=cases)


@check("SelfAttention_v1", weight=2)
def test_selfattention_v1_seed_123(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does torch.manual_seed(123) reproduce the example (rand: query, key, value in order)?"""
    expect_book_output(
        student,
        ref,
        "SelfAttention_v1",
        (3, 2),
        WARS,
        inputs.positive(*WARS.shape),
        what="SelfAttention_v1(3, 2) after torch.manual_seed(123)",
        hint="create W_query, W_key, W_value in that order, each "
        "nn.Parameter(torch.rand(d_in, d_out))",
        label='"wars not make one great", seed 123',
    )


# ---- SelfAttention_v2 ----------------------------------------------------------------------

V2 = f"SelfAttention_v2({D_IN}, {D_OUT})"


@check("SelfAttention_v2", weight=2)
def test_selfattention_v2_parameters(student: Student, inputs: Inputs) -> None:
    """Are its parameters three nn.Linear weights [d_out, d_in], with biases only if qkv_bias?"""
    layers = ("W_query", "W_key", "W_value")
    for bias in (False, True):
        run = student.module("SelfAttention_v2", D_IN, D_OUT, qkv_bias=bias, seed=inputs.seed())
        shapes = {f"{name}.weight": (D_OUT, D_IN) for name in layers}
        if bias:
            shapes |= {f"{name}.bias": (D_OUT,) for name in layers}
        expect_parameters(run, shapes, what=f"SelfAttention_v2({D_IN}, {D_OUT}, qkv_bias={bias})")


@check("SelfAttention_v2", weight=5)
def test_selfattention_v2_loaded(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's weights loaded, are the context vectors right, for one token too?"""
    model = build(ref.SelfAttention_v2, D_IN, D_OUT, seed=inputs.seed())
    xs = (inputs.tensor(6, D_IN), inputs.tensor(1, D_IN))
    state = state_of(model)
    cases = module_cases("SelfAttention_v2", (D_IN, D_OUT), xs, state)
    run = run_module(student, "SelfAttention_v2", D_IN, D_OUT, cases=cases, inputs=xs, state=state)
    what = f"{V2} with the reference's weights"
    expect_loaded(run, what=what)
    labels = [f"random x {spec(x)}" for x in xs]
    expect_outputs(run, forward(model, xs), labels, what=what, cases=cases)


@check("SelfAttention_v2", weight=2)
def test_selfattention_v2_qkv_bias(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With qkv_bias=True and the reference's weights and biases, are the outputs right?"""
    model = build(ref.SelfAttention_v2, D_IN, D_OUT, qkv_bias=True, seed=inputs.seed())
    xs = (inputs.tensor(5, D_IN),)
    state = state_of(model)
    cases = module_cases("SelfAttention_v2", (D_IN, D_OUT, True), xs, state)
    run = run_module(
        student, "SelfAttention_v2", D_IN, D_OUT, qkv_bias=True, cases=cases, inputs=xs, state=state
    )
    what = f"SelfAttention_v2({D_IN}, {D_OUT}, qkv_bias=True) with the reference's parameters"
    expect_loaded(run, what=what)
    expect_outputs(run, forward(model, xs), [f"random x {spec(xs[0])}"], what=what, cases=cases)


@check("SelfAttention_v2", weight=3)
def test_selfattention_v2_seed_789(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Does torch.manual_seed(789) reproduce the book's SelfAttention_v2 output (section 3.4.2)?"""
    expect_book_output(
        student,
        ref,
        "SelfAttention_v2",
        (3, 2),
        JOURNEY,
        inputs.positive(*JOURNEY.shape),
        seed=789,
        what="SelfAttention_v2(3, 2) after torch.manual_seed(789)",
        hint="create nn.Linear W_query, W_key, W_value in that order, bias=qkv_bias",
        label="the journey inputs (book section 3.4.2)",
    )


# ---- v1_state_from_v2 ----------------------------------------------------------------------

LAYERS = ("W_query", "W_key", "W_value")


def _v2_state(inputs: Inputs, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """A SelfAttention_v2(D_IN, D_OUT) state_dict: its weights are [D_OUT, D_IN], not square."""
    return {f"{name}.weight": inputs.tensor(D_OUT, D_IN, dtype=dtype) for name in LAYERS}


@check("v1_state_from_v2", weight=2)
def test_v1_state_from_v2_random(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Is each layer's weight [d_out, d_in] SelfAttention_v1's parameter [d_in, d_out]?"""
    state = _v2_state(inputs)
    got = call(student, "v1_state_from_v2", state)
    what = f"v1_state_from_v2 of a random {V2} state_dict"
    case = Case("v1_state_from_v2", (state,))
    expect_state(got, ref.v1_state_from_v2(state), what=what, case=case)


@check("v1_state_from_v2", weight=2)
def test_v1_state_from_v2_same_output(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Loaded into a SelfAttention_v1, does the result make it compute what the SelfAttention_v2
    computes (float64, as book exercise 3.1 checks)?"""
    sa_v2 = ref.SelfAttention_v2(D_IN, D_OUT).to(F64)
    sa_v2.load_state_dict(_v2_state(inputs, F64))
    state = sa_v2.state_dict()
    got = call(student, "v1_state_from_v2", state)
    what = f"a SelfAttention_v1({D_IN}, {D_OUT}) loaded with v1_state_from_v2 of a float64 {V2}"
    want = ref.v1_state_from_v2(state)
    entries = state_entries(got, LAYERS, what=what)
    arrays = {name: as_array(entry, what=f"{what}[{name!r}]") for name, entry in entries.items()}
    case = Case("v1_state_from_v2", (state,))

    def said() -> str:  # on failure only: a known mistake in one of the entries
        found = (diagnose(replace(case, item=k), a, want[k]) for k, a in arrays.items())
        return looks_like(next(filter(None, found), None))

    sa_v1 = ref.SelfAttention_v1(D_IN, D_OUT).to(F64)
    try:
        sa_v1.load_state_dict({k: torch.from_numpy(a) for k, a in arrays.items()})
    except RuntimeError as e:  # a shape load_state_dict refuses
        raise AssertionError(f"{what}: load_state_dict refused it: {e}" + said()) from None
    x = inputs.tensor(6, D_IN, dtype=F64)
    with torch.no_grad():
        problem = mismatch(sa_v1(x).numpy(), sa_v2(x).numpy(), atol=ATOL64)
    if problem:
        raise AssertionError(
            f"{what}: on x {spec(x)} it is not the v2's output: {problem}" + said()
        )


# ---- what training needs: gradients, and inputs left alone -----------------------------------


@check("qkv_projections", weight=1)
def test_qkv_projections_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do gradients reach x and the three weight matrices, all left unchanged?"""
    args = (inputs.tensor(5, D_IN), *(inputs.tensor(D_IN, D_OUT) for _ in range(3)))
    what = f"backward through qkv_projections(x {spec(args[0])}, weights {spec(args[1])})"
    expect_gradients(student, ref, inputs, "qkv_projections", args, (0, 1, 2, 3), what=what)


@check("scaled_attention_weights", weight=2)
def test_scaled_attention_weights_gradients(
    student: Student, ref: Reference, inputs: Inputs
) -> None:
    """Does a gradient reach the scores, and are they left unchanged?"""
    args = (inputs.tensor(5, 7, scale=3.0), 5)
    what = f"backward through scaled_attention_weights(scores {spec(args[0])}, d_k=5)"
    expect_gradients(student, ref, inputs, "scaled_attention_weights", args, (0,), what=what)


@check("self_attention", weight=2)
def test_self_attention_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """Do gradients reach x, W_query, W_key and W_value, all left unchanged?"""
    args = (inputs.tensor(5, D_IN), *(inputs.tensor(D_IN, D_OUT) for _ in range(3)))
    what = f"backward through self_attention(x {spec(args[0])}, weights {spec(args[1])})"
    expect_gradients(student, ref, inputs, "self_attention", args, (0, 1, 2, 3), what=what)


@check("SelfAttention_v1", weight=2)
def test_selfattention_v1_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's weights, do gradients reach x and every parameter?"""
    expect_module_gradients(
        student,
        inputs,
        "SelfAttention_v1",
        ref.SelfAttention_v1,
        (D_IN, D_OUT),
        inputs.tensor(6, D_IN),
        seed=inputs.seed(),
        name=V1,
    )


@check("SelfAttention_v2", weight=3)
def test_selfattention_v2_gradients(student: Student, ref: Reference, inputs: Inputs) -> None:
    """With the reference's weights (and biases), do gradients reach x and every parameter?"""
    expect_module_gradients(
        student,
        inputs,
        "SelfAttention_v2",
        ref.SelfAttention_v2,
        (D_IN, D_OUT, True),
        inputs.tensor(6, D_IN),
        seed=inputs.seed(),
        name=f"SelfAttention_v2({D_IN}, {D_OUT}, qkv_bias=True)",
    )


# ---- each catalogued mistake, made by a minimal edit of this module's reference ------------
# tests/test_mistake_submissions.py submits each edit to make check and to these checks: both
# must name the mistake. An edit is ([(old, new)], {exercise: mistake name}); old is a line
# (or lines) of solutions/, once.

# fmt: off
SCALED = "    return torch.softmax(scores / d_k**0.5, dim=-1)"
QKV = "    return x @ W_query, x @ W_key, x @ W_value"
SA_QKV = "    queries, keys, values = qkv_projections(x, W_query, W_key, W_value)"
SA_SCORES = "\n    scores = queries @ keys.transpose(-2, -1)  # (n, n)"
SA_RETURN = "\n    return weights @ values  # (n, d_out)"
V2_SCALE = "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)\n        return"
V2_KV = "        keys = self.W_key(x)  # (n, d_out)\n        values = self.W_value(x)  # (n, d_out)"
V2_SCORES = "        scores = queries @ keys.transpose(-2, -1)  # (n, n)"
V2_RETURN = "        return weights @ values  # (n, d_out)"


MISTAKE_EDITS: dict[str, MistakeEdit] = {
    "v1 state not transposed": ([('    return {name: v2_state[f"{name}.weight"].T for name in',
                                  '    return {name: v2_state[f"{name}.weight"] for name in')],
                                {"v1_state_from_v2": "not transposed"}),
    "qkv transposed": ([(QKV, "    return x @ W_query.T, x @ W_key.T, x @ W_value.T")],
                       {"qkv_projections": "transposed", "self_attention": "transposed",
                        "SelfAttention_v1": "transposed"}),
    "qkv order": ([(QKV, "    return x @ W_query, x @ W_value, x @ W_key")],
                  {"qkv_projections": "keys and values swapped", "self_attention": "kv",
                   "SelfAttention_v1": "kv"}),
    "scaled by d_k": ([(SCALED, SCALED.replace("d_k**0.5", "d_k"))],
                      {"scaled_attention_weights": "d_k", "self_attention": "d_k",
                       "SelfAttention_v1": "d_k"}),
    "scaled none": ([(SCALED, SCALED.replace(" / d_k**0.5", ""))],
                    {"scaled_attention_weights": "none", "self_attention": "none",
                     "SelfAttention_v1": "none"}),
    "scaled times": ([(SCALED, SCALED.replace("/ d_k", "* d_k"))],
                     {"scaled_attention_weights": "times"}),
    "scaled columns": ([(SCALED, SCALED.replace("dim=-1", "dim=-2"))],
                       {"scaled_attention_weights": "columns", "self_attention": "columns",
                        "SelfAttention_v1": "columns"}),
    "scaled dim0": ([(SCALED, SCALED.replace("dim=-1", "dim=0"))],
                    {"scaled_attention_weights": "dim0"}),
    "attention d_in": ([("weights = scaled_attention_weights(scores, keys.shape[-1])",
                         "weights = scaled_attention_weights(scores, x.shape[-1])")],
                       {"self_attention": "sqrt d_in", "SelfAttention_v1": "sqrt d_in"}),
    "attention kv": ([(SA_QKV, "    queries, values, keys = qkv_projections(x, W_query, W_key, W_value)")],
                     {"self_attention": "kv", "SelfAttention_v1": "kv"}),
    "attention qk": ([(SA_SCORES, "\n    scores = keys @ queries.transpose(-2, -1)  # (n, n)")],
                     {"self_attention": "qk", "SelfAttention_v1": "qk"}),
    "attention weights": ([(SA_RETURN, "\n    return weights  # (n, n)")],
                          {"self_attention": "weights", "SelfAttention_v1": "weights"}),
    "v2 d_k": ([(V2_SCALE, V2_SCALE.replace("keys.shape[-1] ** 0.5", "keys.shape[-1]"))],
               {"SelfAttention_v2": "d_k"}),
    "v2 none": ([(V2_SCALE, V2_SCALE.replace(" / keys.shape[-1] ** 0.5", ""))],
                {"SelfAttention_v2": "none"}),
    "v2 d_in": ([(V2_SCALE, V2_SCALE.replace("keys.shape[-1]", "x.shape[-1]"))],
                {"SelfAttention_v2": "sqrt d_in"}),
    "v2 columns": ([(V2_SCALE, V2_SCALE.replace("dim=-1", "dim=-2"))],
                   {"SelfAttention_v2": "columns"}),
    "v2 kv": ([(V2_KV, V2_KV.replace("self.W_key(x)", "KEY").replace("self.W_value(x)", "self.W_key(x)")
                .replace("KEY", "self.W_value(x)"))],
              {"SelfAttention_v2": "kv"}),
    "v2 qk": ([(V2_SCORES, V2_SCORES.replace("queries @ keys", "keys @ queries"))],
              {"SelfAttention_v2": "qk"}),
    "v2 weights": ([(V2_RETURN, "        return weights  # (n, n)")],
                   {"SelfAttention_v2": "weights"}),
    "v2 no bias": ([(f"        {n} = self.W_{m}(x)  # (n, d_out)", f"        {n} = x @ self.W_{m}.weight.T")
                    for n, m in (("queries", "query"), ("keys", "key"), ("values", "value"))],
                   {"SelfAttention_v2": "no bias"}),
    "v2 weight matrices": ([("        queries = self.W_query(x)  # (n, d_out)",
                             "        queries = x @ self.W_query.weight  # (n, d_out)")],
                           {"SelfAttention_v2": "linear transposed"}),
    "v1 numpy": ([("        return self_attention(x, self.W_query, self.W_key, self.W_value)\n",
                   "        import numpy as np\n\n"
                   "        xs = x.detach().numpy()\n"
                   "        q, k, v = (xs @ w.detach().numpy() for w in (self.W_query, self.W_key, self.W_value))\n"
                   "        s = q @ k.T / np.sqrt(k.shape[-1])\n"
                   "        e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                   "        return torch.from_numpy(e / e.sum(axis=-1, keepdims=True) @ v)\n")],
                 {"SelfAttention_v1": "numpy round trip"}),
}
# fmt: on
