"""learner.offlimits: every route to an off-limits function is caught; correct code is not."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from learner import kernelwatch, offlimits

X = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
Q = torch.randn(1, 2, 3, 4, generator=torch.Generator().manual_seed(1))  # (b, heads, n, head_dim)


def _elsewhere(x: torch.Tensor) -> torch.Tensor:
    """A helper with an innocent name in another module: only the dynamic watch can see inside."""
    return torch.softmax(x, dim=-1)


SOFTMAX_ROUTES: dict[str, Callable[[], object]] = {
    "torch.softmax": lambda: torch.softmax(X, -1),
    "F.softmax": lambda: F.softmax(X, dim=-1),
    "nn.Softmax": lambda: nn.Softmax(dim=-1)(X),
    "x.softmax": lambda: X.softmax(-1),
    "Tensor.softmax(x)": lambda: torch.Tensor.softmax(X, -1),
    "torch.log_softmax": lambda: torch.log_softmax(X, -1).exp(),
    "F.log_softmax": lambda: F.log_softmax(X, dim=-1).exp(),
    "nn.LogSoftmax": lambda: nn.LogSoftmax(dim=-1)(X).exp(),
    "x.log_softmax": lambda: X.log_softmax(-1).exp(),
    "torch.special.softmax": lambda: torch.special.softmax(X, -1),
    "torch.special.log_softmax": lambda: torch.special.log_softmax(X, -1),
    "torch._softmax": lambda: torch._softmax(X, -1, False),
    "aten._softmax packet": lambda: torch.ops.aten._softmax(X, -1, False),
    "aten._softmax.default": lambda: torch.ops.aten._softmax.default(X, -1, False),
    "aten.softmax.int": lambda: torch.ops.aten.softmax.int(X, -1),
    "aten._log_softmax.default": lambda: torch.ops.aten._log_softmax.default(X, -1, False),
    "aten._safe_softmax": lambda: torch.ops.aten._safe_softmax(X, -1),
    "getattr computed name": lambda: getattr(torch, "soft" + "max")(X, -1),
    "_VariableFunctions": lambda: torch._C._VariableFunctions.softmax(X, -1),
    "F.softmin": lambda: F.softmin(-X, dim=-1),
    "F.gumbel_softmax": lambda: F.gumbel_softmax(X, tau=1.0, dim=-1),
    "torch.masked.softmax": lambda: torch.masked.softmax(X, -1),
    "helper in another module": lambda: _elsewhere(X),
    "on a Parameter": lambda: nn.Parameter(X.clone()).softmax(-1),
    "numpy through torch": lambda: torch.softmax(torch.from_numpy(X.numpy()), 1).numpy(),
    "with autograd": lambda: torch.softmax(X.clone().requires_grad_(), -1).sum().backward(),
}

FUSED_ROUTES: dict[str, Callable[[], object]] = {
    "F.scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(Q, Q, Q),
    "sdpa is_causal": lambda: F.scaled_dot_product_attention(Q, Q, Q, is_causal=True),
    "getattr sdpa": lambda: getattr(F, "scaled_dot_product_" + "attention")(Q, Q, Q),
    "aten sdpa math": lambda: torch.ops.aten._scaled_dot_product_attention_math(Q, Q, Q),
    "aten sdpa flash cpu": lambda: torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        Q, Q, Q
    ),
    "nn.MultiheadAttention": lambda: nn.MultiheadAttention(4, 2, batch_first=True)(X, X, X),
    "nn.MultiheadAttention eval, no grad": lambda: _mha_fast_path(),
    "F.multi_head_attention_forward": lambda: _mha_functional(),
    "nn.TransformerEncoderLayer": lambda: _encoder_layer(),
}


def _mha_fast_path() -> object:
    mha = nn.MultiheadAttention(4, 2, batch_first=True).eval()
    with torch.no_grad():
        return mha(X, X, X, need_weights=False)


def _mha_functional() -> object:
    mha = nn.MultiheadAttention(4, 2)
    x = X.transpose(0, 1)  # (n, b, d)
    return F.multi_head_attention_forward(
        x, x, x, 4, 2, mha.in_proj_weight, mha.in_proj_bias, None, None, False, 0.0,
        mha.out_proj.weight, mha.out_proj.bias,
    )  # fmt: skip


def _encoder_layer() -> object:
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, batch_first=True).eval()
    with torch.no_grad():
        return layer(X)


def _loop_softmax(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for i, row in enumerate(x.reshape(-1, x.shape[-1])):
        e = torch.tensor([math.exp(float(v)) for v in row])
        out.view(-1, x.shape[-1])[i] = e / e.sum()
    return out


def _causal_by_hand(x: torch.Tensor) -> torch.Tensor:
    linear, dropout = nn.Linear(4, 4, bias=False), nn.Dropout(0.1)
    q = k = v = linear(x)  # (b, n, d)
    scores = torch.einsum("bid,bjd->bij", q, k) / 4**0.5  # (b, n, n)
    future = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    weights = torch.exp(scores.masked_fill(future, -torch.inf) - scores.amax(-1, keepdim=True))
    return dropout(weights / weights.sum(-1, keepdim=True)) @ v


CORRECT_VARIANTS: dict[str, Callable[[], object]] = {
    "exp and sum": lambda: torch.exp(X) / torch.exp(X).sum(dim=-1, keepdim=True),
    "amax shift": lambda: (lambda e: e / e.sum(-1, keepdim=True))(
        (X - X.amax(-1, keepdim=True)).exp()
    ),
    "max shift": lambda: torch.exp(X - X.max(dim=-1, keepdim=True).values),
    "logsumexp": lambda: torch.exp(X - torch.logsumexp(X, dim=-1, keepdim=True)),
    "loop with math.exp": lambda: _loop_softmax(X),
    "loop with torch.dot": lambda: torch.stack([torch.dot(X[0, 0], r) for r in X[0]]),
    "einsum, masked_fill, Linear, Dropout": lambda: _causal_by_hand(X),
    "matmul and @": lambda: torch.matmul(X, X.transpose(-2, -1)) + X @ X.mT,
    "autograd through exp": lambda: torch.exp(X.clone().requires_grad_()).sum().backward(),
    "numpy": lambda: np.exp(X.numpy()) / np.exp(X.numpy()).sum(axis=-1, keepdims=True),
}


BY_NAME = pytest.mark.parametrize("by_name", [True, False], ids=["named", "kernels only"])


@BY_NAME
@pytest.mark.parametrize("route", SOFTMAX_ROUTES, ids=str)
def test_watch_catches_every_softmax_route(route: str, by_name: bool) -> None:
    """Does watch(["softmax"]) record a library softmax however it was reached, also with the
    kernels alone (by_name=False, as the grader's worker runs it)?"""
    with offlimits.watch(["softmax"], by_name=by_name) as calls:
        SOFTMAX_ROUTES[route]()
    assert calls, f"{route} went unnoticed"


@BY_NAME
@pytest.mark.parametrize("route", FUSED_ROUTES, ids=str)
def test_watch_catches_every_fused_attention_route(route: str, by_name: bool) -> None:
    """Does watch(["fused_attention"]) record a ready-made attention however it was reached?"""
    with offlimits.watch(["fused_attention"], by_name=by_name) as calls:
        FUSED_ROUTES[route]()
    assert calls, f"{route} went unnoticed"


@BY_NAME
@pytest.mark.parametrize("variant", CORRECT_VARIANTS, ids=str)
def test_watch_leaves_correct_code_alone(variant: str, by_name: bool) -> None:
    """Does correct code (exp/sum, logsumexp, loops, einsum, Linear, Dropout) record nothing?"""
    with offlimits.watch(["softmax", "fused_attention"], by_name=by_name) as calls:
        CORRECT_VARIANTS[variant]()
    assert calls == []


def test_watch_allows_softmax_when_only_fused_attention_is_off_limits() -> None:
    """Is torch.softmax fine where only fused attention is off-limits (CausalAttention)?"""
    with offlimits.watch(["fused_attention"]) as calls:
        torch.softmax(X, dim=-1)
    assert calls == []


def test_watch_names_the_call_once() -> None:
    """Is torch.softmax reported once, by its Python name, not again as its aten kernel?"""
    with offlimits.watch(["softmax"]) as calls:
        torch.softmax(X, -1)
        torch.softmax(X, -1)
    assert calls == ["torch.softmax"]


# Routes that no Python-level watch sees in the calling thread: only the kernels replaced at
# torch's dispatcher (kernelwatch) can.
def _in_thread(fn: Callable[[], object]) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join()


def _in_child(fn: Callable[[], object]) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fn()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _under_inference_mode(fn: Callable[[], object]) -> None:
    with torch.inference_mode():
        fn()


EYE = torch.eye(X.shape[-1])
BELOW_PYTHON: dict[str, tuple[str, Callable[[], object]]] = {
    "softmax in a thread": ("softmax", lambda: _in_thread(lambda: torch.softmax(X, -1))),
    "log_softmax in a forked child": ("softmax", lambda: _in_child(lambda: X.log_softmax(-1))),
    "softmax under inference_mode": (
        "softmax",
        lambda: _in_thread(lambda: _under_inference_mode(lambda: F.softmax(X, -1))),
    ),
    "F.cross_entropy (a composite)": (
        "softmax",
        lambda: _in_thread(lambda: F.cross_entropy(X[0], torch.tensor([0, 1, 2]))),
    ),
    "sdpa with identity keys and values (a softmax)": (
        "softmax",
        lambda: _in_thread(lambda: F.scaled_dot_product_attention(X, EYE, EYE, scale=1.0)),
    ),
    "sdpa in a thread": (
        "fused_attention",
        lambda: _in_thread(lambda: F.scaled_dot_product_attention(Q, Q, Q, is_causal=True)),
    ),
    "sdpa under inference_mode in a forked child": (
        "fused_attention",
        lambda: _in_child(
            lambda: _under_inference_mode(lambda: F.scaled_dot_product_attention(Q, Q, Q))
        ),
    ),
}


@pytest.mark.parametrize("route", BELOW_PYTHON, ids=str)
def test_watch_counts_calls_below_python(route: str) -> None:
    """Is a softmax or an attention computed in another thread, a forked child, under
    inference_mode or inside a composite recorded against the exercise being watched?"""
    group, run = BELOW_PYTHON[route]
    with offlimits.watch([group]) as calls:
        run()
    assert calls and set(calls) <= set(kernelwatch.NAMES.values()), calls


def test_replaced_kernels_compute_what_torch_computes() -> None:
    """Do the replaced kernels give torch's own results and gradients (float64, to 1e-12),
    masked rows included? The expected values are the textbook formulas, not the kernels."""
    with kernelwatch.scoped():
        _check_replaced_kernels()


def _check_replaced_kernels() -> None:
    x = torch.randn(3, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x[0, 0, :3] = -math.inf
    exp = torch.exp(x - x.amax(-1, keepdim=True))
    expected = exp / exp.sum(-1, keepdim=True)
    assert torch.allclose(torch.softmax(x, -1), expected, atol=1e-12, rtol=0)
    assert torch.allclose(F.log_softmax(x[1:], 0), torch.log(torch.softmax(x[1:], 0)), atol=1e-12)
    q = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    scores = (q @ q.mT / 2.0).masked_fill(future, -math.inf)  # scale 1/sqrt(4)
    by_hand = torch.exp(scores - scores.amax(-1, keepdim=True))
    by_hand = (by_hand / by_hand.sum(-1, keepdim=True)) @ q
    got = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert torch.allclose(got, by_hand, atol=1e-12)
    (g_got,) = torch.autograd.grad((got**2).sum(), q)
    (g_hand,) = torch.autograd.grad((by_hand**2).sum(), q)
    assert torch.allclose(g_got, g_hand, atol=1e-10)
    w = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    (g_soft,) = torch.autograd.grad((torch.softmax(w, -1) * torch.arange(6.0)).sum(), w)
    e = torch.exp(w - w.amax(-1, keepdim=True))
    (g_ref,) = torch.autograd.grad(((e / e.sum(-1, keepdim=True)) * torch.arange(6.0)).sum(), w)
    assert torch.allclose(g_soft, g_ref, atol=1e-12)


def test_watch_counts_each_process_apart() -> None:
    """Does a fresh page (each worker's) start from zero, and is the parent's page untouched
    by a child that took a fresh one before calling softmax?"""

    def child() -> None:
        kernelwatch.fresh()
        torch.softmax(X, -1)

    with kernelwatch.scoped():
        before = kernelwatch.snapshot()
        _in_child(child)
        assert kernelwatch.recorded(before, ["softmax"]) == []


def test_watch_gives_torch_its_own_kernels_back() -> None:
    """After a watch (make check's), are torch's own kernels and nn.MultiheadAttention's
    function back, bit for bit, and is a later call no longer counted?"""
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(3))
    mha_forward = F.multi_head_attention_forward
    own = torch.softmax(x, -1)
    with offlimits.watch(["softmax"]):
        pass
    before = kernelwatch.snapshot()
    assert torch.equal(torch.softmax(x, -1), own)
    assert kernelwatch.recorded(before, ["softmax"]) == []
    assert F.multi_head_attention_forward is mha_forward
    assert torch.backends.mha.get_fastpath_enabled()


def _no_modes_left() -> bool:
    return not torch.overrides._get_current_function_mode_stack()


def test_watch_stops_at_the_end_of_the_block() -> None:
    """Does nothing get recorded after the block, and do the torch modes come off?"""
    with offlimits.watch(["softmax"]) as calls:
        pass
    torch.softmax(X, -1)
    assert calls == []
    assert _no_modes_left()


def test_watch_cleans_up_when_the_block_raises() -> None:
    """Are the modes removed when the student's code raises inside the block?"""
    with pytest.raises(RuntimeError), offlimits.watch(["softmax"]):
        raise RuntimeError("student bug")
    assert _no_modes_left()


def test_watch_rejects_an_unknown_group() -> None:
    """Does a typo in a group name fail loudly instead of watching nothing?"""
    with pytest.raises(ValueError, match="softmaxx"), offlimits.watch(["softmaxx"]):
        pass


def _fake_scipy(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in scipy with a scipy.special.softmax, registered as already imported."""
    scipy, special = types.ModuleType("scipy"), types.ModuleType("scipy.special")

    def softmax(x: np.ndarray, axis: int | None = None) -> np.ndarray:
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def log_softmax(x: np.ndarray, axis: int | None = None) -> np.ndarray:
        return np.log(softmax(x, axis))

    special.softmax, special.log_softmax = softmax, log_softmax  # type: ignore[attr-defined]
    scipy.special = special  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scipy", scipy)
    monkeypatch.setitem(sys.modules, "scipy.special", special)
    return special


def test_watch_catches_scipy_softmax_when_scipy_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Is scipy.special.softmax (and log_softmax) recorded, and put back afterwards?"""
    special = _fake_scipy(monkeypatch)
    original = special.softmax
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    with offlimits.watch(["softmax"]) as calls:
        sys.modules["scipy"].special.softmax(a, axis=1)
        getattr(sys.modules["scipy.special"], "log_" + "softmax")(a, axis=1)
    assert calls == ["scipy.special.softmax", "scipy.special.log_softmax"]
    assert special.softmax is original


def test_watch_leaves_scipy_unloaded() -> None:
    """Does watching import nothing new (scipy stays unloaded when it was)?"""
    before = "scipy" in sys.modules
    with offlimits.watch(["softmax"]):
        pass
    assert ("scipy" in sys.modules) == before


def test_watch_with_real_scipy() -> None:
    """With scipy installed and loaded, is scipy.special.softmax recorded?"""
    special = pytest.importorskip("scipy.special")
    with offlimits.watch(["softmax"]) as calls:
        special.softmax(np.zeros((2, 2)), axis=1)
    assert calls == ["scipy.special.softmax"]


# ---- static ----------------------------------------------------------------------------------

HEADER = """\
import math
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn
import scipy.special
"""

STATIC_ROUTES: dict[str, tuple[str, str]] = {  # name: (body of f(x), what the report names)
    "torch.softmax": ("return torch.softmax(x, dim=-1)", "torch.softmax"),
    "F.softmax": ("return F.softmax(x, dim=-1)", "F.softmax"),
    "full path": ("return torch.nn.functional.softmax(x, -1)", "torch.nn.functional.softmax"),
    "nn.Softmax": ("return nn.Softmax(dim=-1)(x)", "nn.Softmax"),
    "method": ("return x.softmax(-1)", "x.softmax"),
    "log_softmax": ("return x.log_softmax(-1).exp()", "x.log_softmax"),
    "special": ("return torch.special.softmax(x, -1)", "torch.special.softmax"),
    "aten": ("return torch.ops.aten._softmax(x, -1, False)", "torch.ops.aten._softmax"),
    "scipy": ("return scipy.special.softmax(x, axis=-1)", "scipy.special.softmax"),
    "getattr": ('return getattr(torch, "softmax")(x, -1)', "getattr(torch, 'softmax')"),
    "vars": ('return vars(torch)["softmax"](x, -1)', "vars(torch)['softmax']"),
    "import inside": (
        "from torch.nn.functional import softmax as sm\n    return sm(x, -1)",
        "torch.nn.functional.softmax",
    ),
}


@pytest.mark.parametrize("route", STATIC_ROUTES, ids=str)
def test_static_scan_flags_every_softmax_reference(route: str) -> None:
    """Does the static scan report the line and the reference of a library softmax?"""
    body, named = STATIC_ROUTES[route]
    source = HEADER + f"\n\ndef f(x):\n    {body}\n"
    found = offlimits.static_violations(source, ["f"], ["softmax"])
    assert found and found[0].startswith("line 10: ") and named in found[0], found


@pytest.mark.parametrize(
    "source, named",
    [
        (
            "from torch.nn.functional import softmax as sm\n\ndef f(x):\n    return sm(x, -1)\n",
            "sm",
        ),
        ("from scipy.special import softmax\n\ndef f(x):\n    return softmax(x)\n", "softmax"),
        ("import torch\nsm = torch.softmax\n\ndef f(x):\n    return sm(x, -1)\n", "sm"),
        ("from torch.nn.functional import *\n\ndef f(x):\n    return softmax(x, -1)\n", "softmax"),
        ("import torch\n\ndef f(x, sm=torch.softmax):\n    return sm(x, -1)\n", "torch.softmax"),
    ],
    ids=["import alias", "from scipy", "module alias", "star import", "default argument"],
)
def test_static_scan_resolves_module_level_aliases(source: str, named: str) -> None:
    """Is an alias bound at module level (import, assignment, default) traced to the library?"""
    found = offlimits.static_violations(source, ["f"], ["softmax"])
    assert found and named in found[0], found


def test_static_scan_follows_helpers_in_the_same_module() -> None:
    """Is a library softmax inside a same-module helper reported at the helper's line?"""
    source = textwrap.dedent(
        """\
        import torch

        def normalise(x):
            return torch.softmax(x, -1)

        def f(x):
            return normalise(x)
        """
    )
    assert offlimits.static_violations(source, ["f"], ["softmax"]) == [
        "line 4: torch.softmax (in normalise)"
    ]


OWN_CODE = textwrap.dedent(
    """\
    import torch
    from torch import nn

    def softmax(x):
        e = torch.exp(x - x.amax(-1, keepdim=True))
        return e / e.sum(-1, keepdim=True)

    def normalise(x):
        return torch.exp(x - torch.logsumexp(x, -1, keepdim=True))

    def f(x):
        return softmax(x) + normalise(x)

    def g(x):
        scores = torch.einsum("id,jd->ij", x, x)
        return torch.stack([torch.dot(r, r) for r in scores])

    def unrelated(x):
        return torch.softmax(x, -1)

    class Attention(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.W_query = nn.Linear(d, d, bias=False)
            self.dropout = nn.Dropout(0.1)

        def softmax(self, s):
            return softmax(s)

        def forward(self, x):
            q = self.W_query(x)
            return self.dropout(self.softmax(q @ q.mT)) @ x
    """
)


@pytest.mark.parametrize("name", ["f", "g", "Attention"])
def test_static_scan_accepts_own_code(name: str) -> None:
    """Are your own softmax, a logsumexp helper, einsum, dot loops and a softmax method fine?"""
    assert offlimits.static_violations(OWN_CODE, [name], ["softmax", "fused_attention"]) == []


def test_static_scan_reads_only_what_was_asked() -> None:
    """Is torch.softmax in a function that is not being checked (and not called) ignored?"""
    assert offlimits.static_violations(OWN_CODE, ["f", "g"], ["softmax"]) == []
    assert offlimits.static_violations(OWN_CODE, ["unrelated"], ["softmax"]) == [
        "line 19: torch.softmax"
    ]


@pytest.mark.parametrize(
    "body, named",
    [
        ("return F.scaled_dot_product_attention(x, x, x)", "F.scaled_dot_product_attention"),
        ("return nn.MultiheadAttention(4, 2)(x, x, x)[0]", "nn.MultiheadAttention"),
        ("return F.multi_head_attention_forward(x)", "F.multi_head_attention_forward"),
        ("return torch.ops.aten._scaled_dot_product_attention_math(x, x, x)", "_scaled_dot"),
        ("return nn.TransformerEncoderLayer(4, 2)(x)", "nn.TransformerEncoderLayer"),
    ],
    ids=["sdpa", "nn.MultiheadAttention", "mha forward", "aten sdpa", "encoder layer"],
)
def test_static_scan_flags_fused_attention(body: str, named: str) -> None:
    """Does the static scan report a ready-made attention?"""
    source = HEADER + f"\n\ndef f(x):\n    {body}\n"
    found = offlimits.static_violations(source, ["f"], ["fused_attention"])
    assert found and named in found[0], found


def test_static_scan_allows_softmax_when_only_fused_attention_is_off_limits() -> None:
    """Is torch.softmax fine for the fused_attention group?"""
    assert offlimits.static_violations(OWN_CODE, ["unrelated"], ["fused_attention"]) == []


def test_static_scan_of_a_class_reads_its_methods() -> None:
    """Is nn.Softmax created in __init__ and used in forward reported on both lines?"""
    source = textwrap.dedent(
        """\
        from torch import nn

        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.softmax = nn.Softmax(dim=-1)

            def forward(self, x):
                return self.softmax(x)
        """
    )
    assert offlimits.static_violations(source, ["A"], ["softmax"]) == [
        "line 6: nn.Softmax",
        "line 9: self.softmax",
    ]


def test_groups_are_described() -> None:
    """Does every group have a description a student can read?"""
    assert set(offlimits.GROUPS) == {"softmax", "fused_attention", "torch"}
    assert all("(" in text for text in offlimits.GROUPS.values())


def test_watch_stays_light() -> None:
    """Does a first watch avoid importing torch._dynamo (a second of start-up) and sympy?"""
    code = (
        "import sys, torch\n"
        "from learner import offlimits\n"
        "with offlimits.watch(['softmax', 'fused_attention']) as calls:\n"
        "    x = torch.randn(2, 3); (x.exp() / x.exp().sum(-1, keepdim=True)).softmax(-1)\n"
        "print(calls, 'torch._dynamo' in sys.modules, 'sympy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["['Tensor.softmax']", "False", "False"], out.stdout + out.stderr


# ---- numpy only ------------------------------------------------------------------------------

NUMPY_WITH_TORCH = textwrap.dedent(
    """\
    import numpy as np
    import torch as t
    from torch import from_numpy

    def softmax_rows(scores):
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def by_alias(scores):
        return t.exp(t.from_numpy(scores)).numpy()

    def by_import(scores):
        return from_numpy(scores).exp().numpy()

    def inside(scores):
        import torch
        return torch.tensor(scores).exp().numpy()
    """
)


@pytest.mark.parametrize(
    "name, line", [("by_alias", 10), ("by_import", 13), ("inside", 16)], ids=str
)
def test_static_scan_flags_torch_in_a_numpy_only_exercise(name: str, line: int) -> None:
    """Is torch under another name, imported from, or imported inside the function reported
    for the numpy-only group, and plain numpy not?"""
    found = offlimits.static_violations(NUMPY_WITH_TORCH, [name], ["torch"])
    assert found and found[0].startswith(f"line {line}: "), found
    assert offlimits.static_violations(NUMPY_WITH_TORCH, ["softmax_rows"], ["torch"]) == []


NUMPY_WITH_SIBLINGS = textwrap.dedent(
    """\
    import numpy as np
    import simple_attention
    from .causal_attention import helper

    def by_relative(scores):
        return helper(scores)

    def by_plain(scores):
        return simple_attention.softmax_stable(scores)

    def inside(scores):
        from exercises.trainable_attention import f
        return f(scores)

    def calls_one(scores):
        return by_relative(scores) * 2
    """
)


@pytest.mark.parametrize(
    "name, line", [("by_relative", 6), ("by_plain", 9), ("inside", 12), ("calls_one", 6)], ids=str
)
def test_static_scan_counts_other_exercise_files_as_torch_in_numpy_only(
    name: str, line: int
) -> None:
    """Is a name from another exercise file (relative, plain or package import, at the top or
    inside, or through a helper) torch for the numpy-only group, and nothing for the others?"""
    found = offlimits.static_violations(NUMPY_WITH_SIBLINGS, [name], ["torch"])
    assert found and found[0].startswith(f"line {line}: "), found
    assert "from another exercise file: numpy only" in found[0]
    assert offlimits.static_violations(NUMPY_WITH_SIBLINGS, [name], ["softmax"]) == []


def test_watch_records_torch_in_a_numpy_only_exercise() -> None:
    """Does the numpy-only group record torch's functions, and nothing for numpy's?"""
    a = np.arange(6.0).reshape(2, 3)
    with offlimits.watch(["torch"]) as calls:
        np.exp(a - a.max(axis=1, keepdims=True))
    assert calls == []
    with offlimits.watch(["torch"]) as calls:
        torch.from_numpy(a).exp().numpy()
    assert "Tensor.exp" in calls


def test_watch_benchmark_runs_on_the_reference() -> None:
    """Does `python -m bench.offlimits_watch --json` replay the reference's requests with
    and without the watch and print its figures (the timings are judged in make bench only)?"""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.offlimits_watch", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert "off-limits watch per submission" in proc.stdout
    assert '"bench": "off-limits watch"' in proc.stdout
