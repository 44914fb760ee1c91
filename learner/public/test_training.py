"""What the training loops of later chapters need from every torch exercise: a gradient that
reaches each input and parameter and agrees with the output's own slope, and inputs left as
they were (book appendix A.4 on autograd; chapter 5 trains these modules)."""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from learner import backprop, examples, manifest, pristine
from learner.mistakes import graph
from learner.public.expect import LOOKS_LIKE
from learner.public.scenarios import randn

EPS = 1e-3  # central differences in float64 (float32 inside the code still resolves the slope)
SLOPE_RTOL, SLOPE_ATOL = 1e-2, 1e-4


def _positive(seed: int, *shape: int) -> Tensor:
    return randn(seed, *shape).abs() + 0.1


# exercise -> (module, the arguments, the positions of those that must get a gradient)
FUNCTIONS: dict[str, tuple[str, Callable[[], tuple[Any, ...]], tuple[int, ...]]] = {
    "attention_scores": ("simple_attention", lambda: (randn(1, 3), randn(2, 4, 3)), (0, 1)),
    "normalize_by_sum": ("simple_attention", lambda: (_positive(3, 2, 4),), (0,)),
    "softmax_naive": ("simple_attention", lambda: (randn(4, 2, 4),), (0,)),
    "softmax_stable": ("simple_attention", lambda: (randn(5, 3, 4) + 1000.0, 0), (0,)),
    "context_vector": ("simple_attention", lambda: (_positive(6, 4), randn(7, 4, 3)), (0, 1)),
    "all_attention_scores": ("simple_attention", lambda: (randn(8, 4, 3),), (0,)),
    "all_attention_weights": ("simple_attention", lambda: (randn(9, 4, 3),), (0,)),
    "all_context_vectors": ("simple_attention", lambda: (randn(10, 4, 3),), (0,)),
    "qkv_projections": (
        "trainable_attention",
        lambda: (randn(11, 4, 3), randn(12, 3, 2), randn(13, 3, 2), randn(14, 3, 2)),
        (0, 1, 2, 3),
    ),
    "scaled_attention_weights": ("trainable_attention", lambda: (randn(15, 4, 4), 2), (0,)),
    "self_attention": (
        "trainable_attention",
        lambda: (randn(16, 4, 3), randn(17, 3, 2), randn(18, 3, 2), randn(19, 3, 2)),
        (0, 1, 2, 3),
    ),
    "mask_and_renormalize": ("causal_attention", lambda: (_positive(20, 4, 4),), (0,)),
    "causal_attention_weights": ("causal_attention", lambda: (randn(21, 2, 4, 4), 2), (0,)),
}


def _documented() -> None:
    """A torch function exercise without a row above: its docstring's worked example, every
    float tensor argument needing a gradient."""
    stubs = pristine.load()
    for e in manifest.load():
        if e.id in FUNCTIONS or "torch" in e.offlimits:
            continue
        for example in examples.of_source(stubs.get(e.module, ""), e.id)[:1]:
            floats = tuple(
                i
                for i, a in enumerate(example.args)
                if isinstance(a, Tensor) and a.is_floating_point()
            )
            if floats:
                args = example.args
                FUNCTIONS[e.id] = (e.module, lambda args=args: copy.deepcopy(args), floats)


_documented()

# exercise -> (module, constructor arguments, input shape)
MODULES: dict[str, tuple[str, tuple[Any, ...], tuple[int, ...]]] = {
    "SelfAttention_v1": ("trainable_attention", (3, 2), (4, 3)),
    "SelfAttention_v2": ("trainable_attention", (3, 2, True), (4, 3)),
    "CausalAttention": ("causal_attention", (3, 2, 4, 0.0, True), (2, 4, 3)),
    "MultiHeadAttentionWrapper": ("multihead_attention", (3, 2, 4, 0.0, 2, True), (2, 4, 3)),
    "MultiHeadAttention": ("multihead_attention", (3, 4, 4, 0.0, 2, True), (2, 4, 3)),
}


def _cases(table: dict[str, Any]) -> list[Any]:
    return [pytest.param(ex, marks=pytest.mark.exercise(ex), id=ex) for ex in table]


def _fail(what: str, problem: str, mistake: str | None = None) -> None:
    note = f"\n  {LOOKS_LIKE}{mistake}" if mistake else ""
    raise AssertionError(f"{what}\n  {problem}{note}")


def _names(fn: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(fn).parameters)


def _expect_unchanged(
    what: str, run: Callable[..., Any], args: tuple[Any, ...], names: Any
) -> None:
    """Run on the arguments; fail if it changed any of them."""
    before = backprop.snapshot(args)
    run(*args)
    for i in backprop.changed(before, args):
        _fail(
            what,
            f"it changed its input {names[i]}: the caller's tensor is not what it passed in",
            graph.IN_PLACE.says,
        )


def _weights(result: Any) -> list[Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.rand(o.shape, generator=gen, dtype=torch.float64) * 2 - 1
        for o in backprop.outputs_of(result)
        if isinstance(o, Tensor)
    ]


def _expect_backward(what: str, run: Callable[..., Any], leaves: dict[str, Tensor]) -> None:
    """Backward of a fixed weighting of the output reaches every leaf, and each gradient is the
    slope of that weighted output (central differences along a random direction)."""
    with warnings.catch_warnings(), backprop.Symptoms() as symptoms:
        warnings.simplefilter("ignore")  # torch's own warning about float(t) says less than we do
        result = run()
    weights = _weights(result)
    problem = backprop.weighted_backward(result, weights)
    if problem:
        _fail(what, f"no backward could run: {problem}")
    cut = graph.diagnose(symptoms.found())
    for name, leaf in leaves.items():
        if leaf.grad is None:
            _fail(what, f"no gradient reaches {name}", cut)
    gen = torch.Generator().manual_seed(1)
    for name, leaf in leaves.items():
        direction = torch.rand(leaf.shape, generator=gen, dtype=torch.float64) - 0.5
        slope = _slope(run, leaf, direction, weights)
        said = float((leaf.grad.double() * direction).sum())
        if abs(said - slope) > SLOPE_ATOL + SLOPE_RTOL * abs(slope):
            _fail(
                what,
                f"the gradient of {name} is not the slope of your output: moving {name} along a "
                f"direction changes the weighted output at rate {slope:.6g}, the gradient says "
                f"{said:.6g}",
                cut,
            )


def _slope(run: Callable[[], Any], leaf: Tensor, direction: Tensor, weights: list[Tensor]) -> float:
    def weighted() -> float:
        outs = [o for o in backprop.outputs_of(run()) if isinstance(o, Tensor)]
        return sum(
            float((o.detach().double() * w).sum()) for o, w in zip(outs, weights, strict=True)
        )

    with torch.no_grad():
        start = leaf.detach().clone()
        leaf.copy_(start + EPS * direction)
        up = weighted()
        leaf.copy_(start - EPS * direction)
        down = weighted()
        leaf.copy_(start)
    return (up - down) / (2 * EPS)


@pytest.mark.parametrize("exercise", _cases(FUNCTIONS))
def test_function_gradients(exercise: str, request: pytest.FixtureRequest) -> None:
    """Are the inputs left unchanged, and does a right gradient reach each of them?"""
    module_name, make_args, positions = FUNCTIONS[exercise]
    fn = getattr(request.getfixturevalue(module_name), exercise)
    names = _names(fn)
    args = make_args()
    what = f"{exercise}({', '.join(names[: len(args)])}) as part of a model being trained"
    _expect_unchanged(what, fn, args, names)
    leaves = backprop.leaves(
        [a.double() if i in positions else a for i, a in enumerate(args)], positions
    )
    _expect_backward(what, lambda: fn(*leaves), {names[i]: leaves[i] for i in positions})


@pytest.mark.parametrize("exercise", _cases(MODULES))
def test_module_gradients(exercise: str, request: pytest.FixtureRequest) -> None:
    """Does a right gradient reach x and every parameter, with x unchanged and the mask saved?"""
    module_name, args, shape = MODULES[exercise]
    cls = getattr(request.getfixturevalue(module_name), exercise)
    with torch.random.fork_rng():
        torch.manual_seed(123)
        model = cls(*args).to(torch.float64).eval()
    what = f"{exercise}{args}.to(torch.float64) in eval mode, as part of a model being trained"
    buffers = dict(model.named_buffers())
    if "mask" in buffers and "mask" not in model.state_dict():
        _fail(
            what,
            "its mask is not in the state_dict, so saving and loading the model loses it: "
            "register_buffer('mask', ...) without persistent=False",
        )
    x = randn(30, *shape).double()
    _expect_unchanged(what, model, (x,), ["x"])
    leaf = x.clone().requires_grad_(True)
    leaves = {"x": leaf, **dict(model.named_parameters())}
    _expect_backward(what, lambda: model(leaf), leaves)
