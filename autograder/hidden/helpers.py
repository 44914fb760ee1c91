"""What the hidden suites share: the documents' inputs, reference runs of a module, and asserts
that say what was checked without showing a hidden value."""

from __future__ import annotations

import collections
import copy
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from learner import backprop, examples, manifest, mistakes
from learner.compare import mismatch
from learner.mistakes import Case, graph
from learner.public import scenarios
from learner.public.expect import fixture

from .. import ROOT
from ..grading.protocol import Value
from ..grading.seeding import seed_cpu
from ..grading.student import Gradients, ModuleRun, Student, StudentError
from ..grading.suite import ATOL, Check, as_array, expect_close, expect_dtype, looks_like

# float32 at |x| ~ 1000 has a spacing of 6e-5: a shift by logsumexp instead of the max is exact
# only to that, so large-logit softmax checks allow this much
LARGE_LOGIT_ATOL = 2e-4
FLOATS = ("float32", "float64")  # results may be either: compared at the coarser one's tolerance
PARAMETER_ATOL = 0.0  # seeded parameters come from the same generator: bit for bit

# ---- the documents' inputs (the public fixtures, typed from ../shared/seeds/) --------------------

# A catalogued mistake made by a minimal edit of a module's reference (MISTAKE_EDITS in each
# hidden module): ([(old, new)], {exercise: the mistake's name}).
MistakeEdit = tuple[list[tuple[str, str]], dict[str, str]]
HEADS = "MultiHeadAttentionWrapper"  # its heads are CausalAttention: it inherits their mistakes
JOURNEY = scenarios.journey()  # "Your journey starts with one step" [6, 3], docs 002 and 003
WARS = scenarios.wars()  # "wars not make one great" [5, 3], doc 001
BOOK_WEIGHTS = scenarios.wars_weights()  # W_query, W_key, W_value [3, 2], doc 001 In[4] (seed 123)
# doc 000 In[2]: X, 3 tokens of 5 integer features (its weights were unseeded: ours are random)
DOC000_X = np.array(fixture("doc000_numpy_shapes")["X"].value)


# ---- describing inputs in messages (shapes and dtypes, never values) ----------------------------


def spec(x: Tensor | np.ndarray) -> str:
    """`[2, 5, 4] float64` for a tensor or an array."""
    dtype = str(x.dtype).removeprefix("torch.")
    return f"[{', '.join(str(int(s)) for s in x.shape)}] {dtype}"


# ---- values -----------------------------------------------------------------------------------


def expect_tensor(
    got: Value,
    expected: Tensor | np.ndarray,
    *,
    what: str,
    reveal: bool = False,
    atol: float | None = None,
    case: Case | None = None,
) -> None:
    """The right kind and shape, a dtype of the same family, then the values (`case`: the
    exercise and its inputs, for naming a known mistake).

    A float32 result for float64 inputs passes at float32's tolerance: the documents' own loops
    (`torch.empty(n)`, `torch.zeros(d)`) compute in float32 whatever comes in.
    """
    if isinstance(expected, Tensor):
        arr = as_array(got, kind="torch", what=what)
        want = str(expected.dtype).removeprefix("torch.")
        if arr.shape == tuple(expected.shape) and not (got.dtype in FLOATS and want in FLOATS):
            expect_dtype(got, want, what=what)
        if atol is None and "float32" in (got.dtype, want):
            atol = ATOL
    if not (isinstance(expected, Tensor) and expected.dtype == torch.bool):
        _expect_finite(got, expected, what=what, case=case)
    expect_close(got, expected, what=what, atol=atol, reveal=reveal, case=case)


def _expect_finite(
    got: Value, expected: Tensor | np.ndarray, *, what: str, case: Case | None = None
) -> None:
    """nan or inf where the reference has none: say so, it is the usual overflow symptom."""
    exp = expected.detach().numpy() if isinstance(expected, Tensor) else np.asarray(expected)
    arr = got.array
    if arr is None or arr.shape != exp.shape or arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr) & np.isfinite(exp)
    if bad.any():
        where = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} entries are nan or inf (first at [{where}]); "
            "an exp that overflows or a 0/0 does this"
            + looks_like(mistakes.diagnose(case, arr, exp))
        )


def state_entries(got: Value, keys: Sequence[str], *, what: str) -> dict[str, Value]:
    """A returned dict (a state_dict) with exactly `keys`, as key -> entry."""
    entries = dict(zip(got.keys, got.items, strict=False)) if got.kind == "dict" else {}
    if got.kind != "dict" or len(entries) != len(got.items) or set(entries) != set(keys):
        said = ", ".join(repr(k[:40]) for k in got.keys[:8]) + (", ..." if got.keys[8:] else "")
        raise AssertionError(
            f"{what}: expected a dict with the keys {', '.join(map(repr, keys))}, got "
            + (f"the keys {said or 'none'}" if got.kind == "dict" else got.describe())
        )
    return entries


def expect_state(
    got: Value,
    expected: Mapping[str, Tensor],
    *,
    what: str,
    reveal: bool = False,
    case: Case | None = None,
) -> None:
    """A returned dict (a state_dict) with exactly the expected keys, each entry the expected
    tensor (`case`'s item is the key)."""
    entries = state_entries(got, list(expected), what=what)
    for key, want in expected.items():
        one = replace(case, item=key) if case else None
        expect_tensor(entries[key], want, what=f"{what}[{key!r}]", reveal=reveal, case=one)


def expect_value(
    got: Value, expected: Any, *, what: str, reveal: bool = False, case: Case | None = None
) -> None:
    """expect_state for a dict the reference returns, expect_tensor for anything else."""
    compare = expect_state if isinstance(expected, Mapping) else expect_tensor
    compare(got, expected, what=what, reveal=reveal, case=case)


def expect_items(got: Value, count: int, *, what: str) -> tuple[Value, ...]:
    """The entries of a returned tuple (or list) of `count` values."""
    if got.kind not in ("tuple", "list") or len(got.items) != count:
        raise AssertionError(f"{what}: expected a tuple of {count}, got {got.describe()}")
    return got.items


def expect_raises(error: StudentError, types: Sequence[str], *, what: str) -> None:
    """The student's code raised one of `types`; other failures (off-limits, missing, a timeout)
    go on to the runner unchanged."""
    if error.kind != "exception":
        raise error
    if error.type_name not in types:
        raise AssertionError(
            f"{what}: raised {error.type_name}, expected {' or '.join(types)}: {error.message}"
        )


# ---- modules ----------------------------------------------------------------------------------


# The reference's modules and outputs, kept for the checks of one submission that ask for the
# same (a seed of the book's, or of the submission's inputs) and read-only; the most recent
# KEPT of each, so that a lane grading a whole class holds a submission's worth, not a class's.
KEPT = 64
_BUILT: collections.OrderedDict[tuple[Any, ...], nn.Module] = collections.OrderedDict()
_OUTPUTS: collections.OrderedDict[tuple[Any, ...], list[Tensor]] = collections.OrderedDict()


def _kept(memo: collections.OrderedDict, key: tuple[Any, ...], make: Any) -> Any:
    """memo[key], made by make() the first time; the least recently used go past KEPT."""
    if key in memo:
        memo.move_to_end(key)
    else:
        memo[key] = make()
        while len(memo) > KEPT:
            memo.popitem(last=False)
    return memo[key]


def build(
    cls: type[nn.Module], *args: Any, seed: int, float64: bool = False, **kwargs: Any
) -> nn.Module:
    """The reference module, built right after torch.manual_seed(seed), then converted with
    .to(torch.float64) if asked (cached; do not mutate)."""

    def make() -> nn.Module:
        seed_cpu(seed)
        model = cls(*args, **kwargs)
        return model.to(torch.float64) if float64 else model

    return _kept(_BUILT, (cls, args, tuple(sorted(kwargs.items())), seed, float64), make)


def state_of(model: nn.Module) -> dict[str, Tensor]:
    """Its parameters (no buffers), as the student's module will load them."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def forward(
    model: nn.Module,
    inputs: Sequence[Tensor],
    *,
    train: bool = False,
    forward_seed: int | None = None,
) -> list[Tensor]:
    """As the worker runs it: set the mode, then per input seed (if given) and forward (cached)."""
    key = (
        model,  # the object itself, not its id: the key keeps it alive, so no id is reused
        train,
        forward_seed,
        tuple((x.dtype, tuple(x.shape), x.numpy().tobytes()) for x in inputs),
    )

    def make() -> list[Tensor]:
        model.train(train)
        outputs = []
        with torch.no_grad():
            for x in inputs:
                if forward_seed is not None:
                    seed_cpu(forward_seed)
                outputs.append(model(x))
        return outputs

    return list(_kept(_OUTPUTS, key, make))


def expect_outputs(
    run: ModuleRun,
    expected: Sequence[Tensor],
    labels: Sequence[str],
    *,
    what: str,
    reveal: bool = False,
    cases: Sequence[Case | None] | None = None,
) -> None:
    """One output per input, each as expected; `labels` say which input it was (`cases`: the
    module and each input, for naming a known mistake)."""
    if len(run.outputs) != len(expected):
        raise AssertionError(f"{what}: {len(run.outputs)} outputs for {len(expected)} inputs")
    cases = cases or [None] * len(expected)
    for got, want, label, case in zip(run.outputs, expected, labels, cases, strict=True):
        expect_tensor(got, want, what=f"{what}, {label}", reveal=reveal, case=case)


def module_cases(
    exercise: str,
    args: tuple[Any, ...],
    xs: Sequence[Tensor],
    params: Mapping[str, Any],
    *,
    train: bool = False,
    forward_seed: int | None = None,
    seed: int | None = None,
) -> list[Case | None]:
    """The mistake catalogue's view of `exercise(*args)` with `params`, one case per input."""
    return [
        Case(
            exercise,
            (x,),
            module_args=args,
            params=params,
            train=train,
            forward_seed=forward_seed,
            seed=seed,
        )
        for x in xs
    ]


def call(student: Student, exercise: str, *args: Any, **kwargs: Any) -> Value:
    """student.call(...), its exception named when a known mistake raises it on these inputs."""
    try:
        return student.call(exercise, *args, **kwargs)
    except StudentError as e:
        diagnosis = None
        if e.kind == "exception":
            case = Case(exercise, args, kwargs)
            diagnosis = mistakes.diagnose_error(case, e.type_name, e.message)
        if not diagnosis:
            raise
        raise StudentError(
            e.kind, e.message + looks_like(diagnosis), e.type_name, e.traceback
        ) from None


def run_module(
    student: Student, exercise: str, *args: Any, cases: Sequence[Any], **kwargs: Any
) -> ModuleRun:
    """student.module(...), its exception named when a known mistake raises it on one input."""
    try:
        return student.module(exercise, *args, **kwargs)
    except StudentError as e:
        if e.kind != "exception":
            raise
        for case in cases:
            diagnosis = mistakes.diagnose_error(case, e.type_name, e.message)
            if diagnosis:
                raise StudentError(
                    e.kind, e.message + looks_like(diagnosis), e.type_name, e.traceback
                ) from None
        raise


def expect_loaded(run: ModuleRun, *, what: str) -> None:
    """The reference's parameters fitted the student's module exactly: none left out or over."""
    if run.missing:
        raise AssertionError(
            f"{what}: the reference's parameters did not set {', '.join(run.missing[:6])}; "
            "your module has parameters the exercise does not ask for (check bias=qkv_bias)"
        )
    if run.unexpected:
        raise AssertionError(
            f"{what}: your module has no {', '.join(run.unexpected[:6])} for the reference's "
            "parameters; use the names, layers and containers the docstring gives"
        )


def expect_submodules(run: ModuleRun, classes: Mapping[str, str], *, what: str) -> None:
    """These submodules exist with these class names."""
    for name, cls in classes.items():
        got = run.submodules.get(name)
        if got != cls:
            found = f"a {got}" if got else "nothing"
            raise AssertionError(f"{what}: expected {name} to be a {cls}, found {found}")


def expect_same_parameters(run: ModuleRun, reference: nn.Module, *, what: str, hint: str) -> None:
    """The student's freshly built parameters equal the reference's built with the same seed."""
    for name, param in reference.named_parameters():
        got = run.parameters.get(name)
        if got is None:
            raise AssertionError(f"{what}: no parameter {name}")
        problem = mismatch(got, param.detach().numpy(), atol=PARAMETER_ATOL)
        if problem is not None:
            raise AssertionError(
                f"{what}: {name} is not the reference's ({problem.split(';')[0]}); {hint}"
            )


def expect_causal_buffer(run: ModuleRun, name: str, size: int, *, what: str) -> None:
    """A buffer `name` [size, size] that is nonzero exactly above the diagonal."""
    buf = run.buffers.get(name)
    if buf is None:
        found = ", ".join(sorted(run.buffers)) or "none"
        raise AssertionError(
            f"{what}: no buffer named {name} (buffers: {found}); use register_buffer('mask', ...)"
        )
    if buf.shape != (size, size):
        raise AssertionError(
            f"{what}: buffer {name} has shape {list(buf.shape)}, expected [{size}, {size}] "
            "(context_length x context_length)"
        )
    if name not in run.state_keys:
        raise AssertionError(
            f"{what}: buffer {name} is not in the module's state_dict, so saving and loading "
            f"the model loses it: register_buffer('{name}', ...) without persistent=False"
        )
    want = np.triu(np.ones((size, size), dtype=bool), k=1)
    got = buf.astype(bool)
    if not np.array_equal(got, want):
        first = ", ".join(str(int(i)) for i in np.argwhere(got != want)[0])
        state = "set" if got[tuple(np.argwhere(got != want)[0])] else "not set"
        raise AssertionError(
            f"{what}: buffer {name} should be nonzero exactly above the diagonal; [{first}] is "
            f"{state} (torch.triu(..., diagonal=1))"
        )


def expect_like_reference(
    student: Student,
    exercise: str,
    reference: type[nn.Module],
    args: tuple[Any, ...],
    xs: Sequence[Tensor],
    *,
    seed: int,
    name: str,
    train: bool = False,
    forward_seed: int | None = None,
) -> None:
    """`exercise(*args)` with the reference's parameters (built after seed) loaded computes the
    reference's outputs on `xs`, in eval mode or in train mode with the same forward seed."""
    model = build(reference, *args, seed=seed)
    state = state_of(model)
    cases = module_cases(exercise, args, xs, state, train=train, forward_seed=forward_seed)
    run = run_module(
        student,
        exercise,
        *args,
        cases=cases,
        inputs=tuple(xs),
        state=state,
        train=train,
        forward_seed=forward_seed,
    )
    mode = "train mode, the reference's dropout seed" if train else "eval mode"
    what = f"{name} with the reference's parameters, {mode}"
    expect_loaded(run, what=what)
    expected = forward(model, xs, train=train, forward_seed=forward_seed)
    labels = [f"random batch {spec(x)}" for x in xs]
    expect_outputs(run, expected, labels, what=what, cases=cases)


@dataclass(frozen=True)
class CausalClass:
    """A causal attention class under test, with the sizes its checks build it with."""

    exercise: str
    d_in: int
    d_out: int
    context: int
    heads: int | None = None  # None: CausalAttention, which takes no num_heads

    def args(self, dropout: float, qkv_bias: bool = False) -> tuple[Any, ...]:
        heads = () if self.heads is None else (self.heads,)
        return (self.d_in, self.d_out, self.context, dropout, *heads, qkv_bias)

    def name(self, dropout: float, qkv_bias: bool = False) -> str:
        heads = "" if self.heads is None else f", num_heads={self.heads}"
        bias = ", qkv_bias=True" if qkv_bias else ""
        return (
            f"{self.exercise}({self.d_in}, {self.d_out}, context_length={self.context}, "
            f"dropout={dropout}{heads}{bias})"
        )

    def expect_gradients(self, student: Student, ref: Any, inputs: Any, x: Tensor) -> None:
        """With the reference's parameters, in eval mode, the reference's gradients for x and
        every parameter."""
        expect_module_gradients(
            student,
            inputs,
            self.exercise,
            getattr(ref, self.exercise),
            self.args(0.5),
            x,
            seed=inputs.seed(),
            name=self.name(0.5),
        )

    def expect_like_reference(
        self,
        student: Student,
        ref: Any,
        inputs: Any,
        xs: tuple[Tensor, ...],
        *,
        qkv_bias: bool = False,
        train: bool = False,
    ) -> None:
        """With the reference's parameters loaded, the reference's outputs (dropout=0.5)."""
        seed, forward_seed = inputs.seed(), inputs.seed() if train else None
        expect_like_reference(
            student,
            self.exercise,
            getattr(ref, self.exercise),
            self.args(0.5, qkv_bias),
            xs,
            seed=seed,
            name=self.name(0.5, qkv_bias),
            train=train,
            forward_seed=forward_seed,
        )


def expect_book_output(
    student: Student,
    ref: Any,
    exercise: str,
    args: tuple[Any, ...],
    book_input: Tensor,
    fresh_input: Tensor,
    *,
    seed: int = 123,
    what: str,
    hint: str,
    label: str,
) -> None:
    """After torch.manual_seed(seed), the student's parameters and output are the book's, and the
    same module is right on a fresh input too: an output typed in from the book earns nothing."""
    model = build(getattr(ref, exercise), *args, seed=seed)
    xs = (book_input, fresh_input)
    run = student.module(exercise, *args, inputs=xs, seed=seed)
    try:
        expect_same_parameters(run, model, what=what, hint=hint)
    except AssertionError as e:
        built = mistakes.diagnose_parameters(exercise, args, {}, seed, run.parameters)
        if built and _computes_like(model, run, xs):
            built = f"your computation is right, but {built}"
        raise AssertionError(f"{e}{looks_like(built)}") from None
    if len(run.outputs) != 2:
        raise AssertionError(f"{what}: {len(run.outputs)} outputs for 2 inputs")
    book, fresh = forward(model, xs)
    cases = module_cases(exercise, args, xs, run.parameters)
    expect_tensor(run.outputs[0], book, what=f"{what}, {label}", reveal=True, case=cases[0])
    what = f"{what}, {FRESH} {spec(fresh_input)}"
    expect_tensor(run.outputs[1], fresh, what=what, case=cases[1])


def _computes_like(model: nn.Module, run: ModuleRun, xs: Sequence[Tensor]) -> bool:
    """Does the reference, given the student's own parameters, give the student's outputs?"""
    if set(run.parameters) != {k for k, _ in model.named_parameters()}:
        return False
    twin = copy.deepcopy(model)
    state = {k: torch.from_numpy(np.array(v)) for k, v in run.parameters.items()}
    try:
        twin.load_state_dict(state, strict=False)
    except RuntimeError:  # shapes differ
        return False
    with torch.no_grad():
        outs = [twin.eval()(x) for x in xs]
    return len(run.outputs) == len(outs) and all(
        got.array is not None
        and got.array.shape == tuple(out.shape)
        and mismatch(got.array, out.numpy(), atol=ATOL) is None
        for got, out in zip(run.outputs, outs, strict=False)
    )


FRESH = "a fresh input shaped like the document's"


def fresh_like(inputs: Any, arg: Any) -> Any:
    """A new positive input with `arg`'s shape and dtype (the documents' inputs are positive);
    anything that is not a float array stays as it is (a dict: each entry alike)."""
    if isinstance(arg, Mapping):
        return {k: fresh_like(inputs, v) for k, v in arg.items()}
    if isinstance(arg, Tensor) and arg.is_floating_point():
        return inputs.positive(*arg.shape, dtype=arg.dtype)
    if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
        return inputs.rng.uniform(0.1, 1.1, size=arg.shape).astype(arg.dtype)
    return arg


def expect_document(
    student: Student,
    ref: Any,
    inputs: Any,
    exercise: str,
    args: tuple[Any, ...],
    *,
    what: str,
    compare: Any = None,
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """The printed values for the document's inputs, and the reference's on a fresh input of the
    same shape: an answer typed in from the documents earns nothing."""
    compare = compare or expect_value
    reference = getattr(ref, exercise)
    kw = dict(kwargs or {})
    got = call(student, exercise, *args, **kw)
    compare(got, reference(*args, **kw), what=what, reveal=True, case=Case(exercise, args, kw))
    fresh = tuple(fresh_like(inputs, a) for a in args)
    got = call(student, exercise, *fresh, **kw)
    compare(got, reference(*fresh, **kw), what=f"{FRESH} ({what})", case=Case(exercise, fresh, kw))


def documented_checks(module: str) -> list[Check]:
    """One check (weight 1) per worked example in the docstrings of the module's reference
    functions (learner/examples.py): its arguments, then a fresh input of the same shape."""
    source = (ROOT / "solutions" / f"{module}.py").read_text(encoding="utf-8")
    out = []
    for e in manifest.load():
        if e.module == module:
            for i, example in enumerate(examples.of_source(source, e.id)):
                out.append(Check(e.id, 1.0, _documented(example, i + 1), hidden=True))
    return out


def _documented(example: examples.Example, number: int) -> Any:
    def check(student: Student, ref: Any, inputs: Any) -> None:
        expect_document(
            student,
            ref,
            inputs,
            example.exercise,
            example.args,
            kwargs=example.kwargs,
            what=f"the example in its docstring, {example.call}",
        )

    check.__name__ = f"test_{example.exercise.lower()}_example_{number}"
    check.__documented__ = True  # type: ignore[attr-defined]  # runs before the written checks
    check.__doc__ = (
        "Does the example in its docstring give the reference's result, and a fresh input?"
    )
    return check


# ---- what training needs: gradients, and inputs left alone --------------------------------------

GRAD_ATOL = LARGE_LOGIT_ATOL  # float32-aware: a logsumexp softmax's gradient at logits ~1000 too
GRAD_RTOL = 1e-3


def expect_unchanged(student: Student, ref: Any, exercise: str, *, what: str) -> None:
    """The student's last call left the exercise's arguments as they were."""
    known = _arg_names(ref, exercise)
    changed = [known[i] for i in student.changed if 0 <= i < len(known)]
    if changed:
        names = ", ".join(changed)
        raise AssertionError(
            f"{what}: {exercise} changed its input {names}, so the caller's tensor is no longer "
            "what it passed in" + looks_like(graph.IN_PLACE.says)
        )


def expect_gradients(
    student: Student,
    ref: Any,
    inputs: Any,
    exercise: str,
    args: tuple[Any, ...],
    positions: tuple[int, ...],
    *,
    what: str,
) -> None:
    """The exercise leaves its arguments unchanged, and backward of a fixed weighted sum of its
    output gives the reference's gradient for each argument at `positions`."""
    leaves = backprop.leaves(args, positions)
    result = getattr(ref, exercise)(*leaves)
    weights = [inputs.tensor(*o.shape, dtype=o.dtype) for o in backprop.outputs_of(result)]
    backprop.weighted_backward(result, weights)
    value, grads = student.gradients(exercise, args, positions, weights)
    expect_unchanged(student, ref, exercise, what=what)
    for item in value.items if value.kind in ("tuple", "list") else (value,):
        as_array(item, kind="torch", what=what)  # a plain tensor, as in every other check
    names = [_arg_names(ref, exercise)[i] for i in positions]
    wanted = [backprop.grad_of(leaves[i]) for i in positions]
    _expect_grads(grads, dict(zip(names, grads.inputs, strict=False)), names, wanted, what=what)


def expect_module_gradients(
    student: Student,
    inputs: Any,
    exercise: str,
    reference: type[nn.Module],
    args: tuple[Any, ...],
    x: Tensor,
    *,
    seed: int,
    name: str,
) -> None:
    """With the reference's parameters loaded, converted by .to(torch.float64), in eval mode:
    forward leaves x unchanged, and backward of a fixed weighted sum of the output gives the
    reference's gradients for x and for every parameter."""
    model = build(reference, *args, seed=seed, float64=True).eval()  # shared: no .grad set
    x = x.to(torch.float64)
    leaf = x.detach().clone().requires_grad_(True)
    out = model(leaf)
    weight = inputs.tensor(*out.shape, dtype=out.dtype)
    named = dict(model.named_parameters())
    found = torch.autograd.grad((out * weight).sum(), [leaf, *named.values()], allow_unused=True)
    state = state_of(model)
    run = run_module(
        student,
        exercise,
        *args,
        cases=module_cases(exercise, args, (x,), state),
        inputs=(x,),
        state=state,
        backward=[weight],
        float64=True,
    )
    what = (
        f"{name} with the reference's parameters, .to(torch.float64), eval mode, backward from "
        f"a batch {spec(x)}"
    )
    expect_loaded(run, what=what)
    if run.changed:
        raise AssertionError(
            f"{what}: forward changed its input x" + looks_like(graph.IN_PLACE.says)
        )
    assert run.grads is not None
    got = {"x": run.grads.inputs[0] if run.grads.inputs else None, **run.grads.parameters}
    _expect_grads(run.grads, got, ["x", *named], list(found), what=what)


def _expect_grads(
    grads: Gradients,
    got: Mapping[str, np.ndarray | None],
    names: Sequence[str],
    wanted: Sequence[Tensor | None],
    *,
    what: str,
) -> None:
    """Each named gradient reached its tensor and is the reference's, within GRAD_ATOL scaled to
    the gradient's size; a graph cut is named from what the call did."""
    if grads.problem:
        raise AssertionError(f"{what}: backward could not run: {grads.problem}")
    cut = looks_like(graph.diagnose(grads.symptoms))
    for name, want in zip(names, wanted, strict=True):
        mine = got.get(name)
        if want is None:
            continue
        if mine is None:
            raise AssertionError(f"{what}: no gradient reaches {name}" + cut)
        expected = want.numpy()
        scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
        problem = mismatch(mine, expected, atol=GRAD_ATOL * scale, rtol=GRAD_RTOL)
        if problem is not None:
            raise AssertionError(
                f"{what}: the gradient of {name} is not the reference's "
                f"({problem.split(';')[0]})" + cut
            )


def _arg_names(ref: Any, exercise: str) -> list[str]:
    """The parameter names of the reference function (as the stub declares them)."""
    return list(inspect.signature(getattr(ref, exercise)).parameters)
