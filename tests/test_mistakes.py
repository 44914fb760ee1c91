"""The mistake catalogue (learner/mistakes/): every catalogued mistake is told apart from the
reference and named by its own output, and the corpus's mistakes are named in `make check`.

The hidden suites' side (the feedback) is checked in tests/test_hidden_suites.py, on the corpus
graded once there. A corpus entry's expected.toml names what its messages must say:
`[diagnosis]` in both, `[check_diagnosis]` in `make check` only, `[feedback_diagnosis]` in the
feedback only; each maps an exercise id to a phrase of the sentence naming the mistake.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autograder import ROOT
from learner import examples, manifest, mistakes
from learner.mistakes import Case, graph, seeded
from solutions import (
    causal_attention,
    multihead_attention,
    numpy_attention,
    simple_attention,
    trainable_attention,
)
from tests import corpus_entries

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CORPUS = ROOT / "tests" / "corpus"
SOLUTIONS = (
    simple_attention,
    trainable_attention,
    numpy_attention,
    causal_attention,
    multihead_attention,
)
SEED = 20261  # mixed into every case's seed below; torch 2.13.0


def _seed(key: str) -> int:
    """A case's own seed, from its key (crc32: stable across runs, unlike Python's hash), so
    adding, removing or reordering a case changes no other case's input."""
    return SEED ^ zlib.crc32(key.encode())


def _gens(key: str) -> tuple[torch.Generator, np.random.Generator]:
    """The torch and numpy generators of one case, and of nothing else."""
    return torch.Generator().manual_seed(_seed(key)), np.random.default_rng(_seed(key))


def _t(gen: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return (torch.rand(shape, generator=gen) * 2 - 1) * scale


def _pos(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return _t(gen, *shape).abs() + 0.1


def _reference(name: str) -> Any:
    return next(getattr(m, name) for m in SOLUTIONS if hasattr(m, name))


# key -> (exercise, args from the case's own generators, kwargs); a key names one case for good
_FUNCTION_CASES: dict[
    str, tuple[str, Callable[[torch.Generator, np.random.Generator], tuple], dict]
] = {
    "normalize_by_sum/4x6": ("normalize_by_sum", lambda g, r: (_pos(g, 4, 6),), {}),
    "normalize_by_sum/5x5": ("normalize_by_sum", lambda g, r: (_pos(g, 5, 5),), {}),
    "softmax_naive/4x6": ("softmax_naive", lambda g, r: (_t(g, 4, 6, scale=3.0),), {}),
    "softmax_naive/5x5": ("softmax_naive", lambda g, r: (_t(g, 5, 5, scale=3.0),), {}),
    "softmax_stable/large": ("softmax_stable", lambda g, r: (_t(g, 4, 6, scale=1000.0),), {}),
    "softmax_stable/5x5": ("softmax_stable", lambda g, r: (_t(g, 5, 5, scale=3.0),), {}),
    "softmax_stable/dim1": (
        "softmax_stable",
        lambda g, r: (_t(g, 2, 3, 4, scale=3.0),),
        {"dim": 1},
    ),
    "all_attention_weights": ("all_attention_weights", lambda g, r: (_t(g, 5, 3),), {}),
    "all_context_vectors": ("all_context_vectors", lambda g, r: (_t(g, 5, 3),), {}),
    "scaled_attention_weights/2d": (
        "scaled_attention_weights",
        lambda g, r: (_t(g, 5, 7, scale=3.0), 5),
        {},
    ),
    "scaled_attention_weights/3d": (
        "scaled_attention_weights",
        lambda g, r: (_t(g, 2, 4, 4, scale=3.0), 8),
        {},
    ),
    "self_attention/4x3": (
        "self_attention",
        lambda g, r: (_t(g, 6, 4), *(_t(g, 4, 3) for _ in range(3))),
        {},
    ),
    "self_attention/square": (
        "self_attention",
        lambda g, r: (_t(g, 6, 4), *(_t(g, 4, 4) for _ in range(3))),
        {},
    ),
    "softmax_rows/4x4": ("softmax_rows", lambda g, r: (r.uniform(-3, 3, (4, 4)),), {}),
    "softmax_rows/4x6": ("softmax_rows", lambda g, r: (r.uniform(-3, 3, (4, 6)),), {}),
    "softmax_rows/large": ("softmax_rows", lambda g, r: (r.uniform(-1000, 1000, (3, 5)),), {}),
    "causal_mask": ("causal_mask", lambda g, r: (4,), {}),
    "mask_and_renormalize": ("mask_and_renormalize", lambda g, r: (_pos(g, 5, 5),), {}),
    "causal_attention_weights": (
        "causal_attention_weights",
        lambda g, r: (_t(g, 5, 5, scale=3.0), 4),
        {},
    ),
}


def _qkv_args(g: torch.Generator, r: np.random.Generator) -> tuple:
    square = _t(g, 4, 4)  # W_query's transpose as W_value: a transposed projection shows
    return (square, _t(g, 4, 4), square.T, _t(g, 4, 4))


def _numpy_args(g: torch.Generator, r: np.random.Generator) -> tuple:
    x = r.uniform(-1, 1, (6, 5))
    return (x, r.uniform(-1, 1, (5, 4)), r.uniform(-1, 1, (5, 4)), r.uniform(-1, 1, (5, 3)))


# key -> (exercise, args, items compared): one input, each returned entry compared on it
_TUPLE_CASES = {
    "qkv_projections": ("qkv_projections", _qkv_args, (0, 1, 2)),
    "self_attention_numpy": ("self_attention_numpy", _numpy_args, (0, 1)),
}


def function_cases() -> list[Case]:
    """Inputs like the checks', square and not, for every function exercise with mistakes; each
    case drawn from its own generators (_gens of its key)."""
    cases = [
        Case(ex, make(*_gens(key)), kwargs) for key, (ex, make, kwargs) in _FUNCTION_CASES.items()
    ]
    for key, (ex, make, items) in _TUPLE_CASES.items():
        args = make(*_gens(key))
        cases += [Case(ex, args, item=i) for i in items]
    return cases + documented_cases()


def documented_cases() -> list[Case]:
    """The worked example in the docstring of each function exercise with mistakes (one case per
    entry of a returned dict): add an entry in _FUNCTION_CASES when it cannot show a mistake."""
    with_mistakes = set(mistakes.catalogue())
    cases = []
    for e in manifest.load():
        if e.id in with_mistakes:
            source = (ROOT / "solutions" / f"{e.module}.py").read_text(encoding="utf-8")
            for x in examples.of_source(source, e.id):  # a dict result: each entry compared
                items = list(x.expected) if isinstance(x.expected, dict) else [None]
                cases += [Case(e.id, x.args, x.kwargs, item=i) for i in items]
    return cases


# (exercise, constructor args, input shapes, train): the classes as the hidden suites build them
MODULES = [
    ("SelfAttention_v1", (4, 3), [(6, 4)], False),
    ("SelfAttention_v1", (4, 4), [(6, 4)], False),
    ("SelfAttention_v2", (4, 3), [(6, 4)], False),
    ("SelfAttention_v2", (4, 4, True), [(6, 4)], False),
    ("CausalAttention", (4, 3, 6, 0.5), [(2, 6, 4), (2, 4, 4)], False),
    ("CausalAttention", (4, 3, 6, 0.5), [(2, 6, 4)], True),
    ("MultiHeadAttentionWrapper", (4, 3, 6, 0.5, 3), [(2, 6, 4), (2, 4, 4)], False),
    ("MultiHeadAttentionWrapper", (4, 3, 6, 0.5, 3), [(2, 6, 4)], True),
    ("MultiHeadAttention", (4, 6, 5, 0.5, 3), [(3, 5, 4), (2, 3, 4)], False),
    ("MultiHeadAttention", (4, 6, 5, 0.5, 3), [(2, 5, 4)], True),
]


def module_cases() -> Iterator[tuple[Case, np.ndarray | None]]:
    """Each class case with the reference module's output on it (None when it raises)."""
    for exercise, args, shapes, train in MODULES:
        key = f"{exercise}{args}{'/train' if train else ''}"
        g = torch.Generator().manual_seed(_seed(key + "/input"))
        torch.manual_seed(_seed(key))
        model = _reference(exercise)(*args)
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        for shape in shapes:
            x = _t(g, *shape)
            forward_seed = _seed(key + "/forward") if train else None
            model.train(train)
            if forward_seed is not None:
                torch.manual_seed(forward_seed)
            with torch.no_grad():
                out = model(x).double().numpy()
            yield Case(exercise, (x,), module_args=args, params=params, train=train,
                       forward_seed=forward_seed), out  # fmt: skip


def all_cases() -> Iterator[tuple[Case, np.ndarray]]:
    for case in function_cases():
        out = _reference(case.exercise)(*case.args, **case.kwargs)
        out = out if case.item is None else out[case.item]
        yield case, mistakes._numbers(out)
    yield from module_cases()


def _named_by_itself(case: Case, ref: np.ndarray) -> tuple[set[str], list[str]]:
    """The mistakes this case tells apart from the reference, and those misnamed there."""
    seen, wrong = set(), []
    results = list(mistakes.outputs(case))
    for i, (mistake, out) in enumerate(results):
        earlier = [m for m, o in results[:i] if _same(o, out)]  # the same output: first one wins
        expected: str | None = (earlier[0] if earlier else mistake).says
        if isinstance(out, BaseException):
            # every mistake raising this very error: named only if they all say the same
            said = {m.error_says or m.says for m, o in results if _same(o, out)}
            expected = said.pop() if len(said) == 1 else None
            got = mistakes.diagnose_error(case, type(out).__name__, str(out))
        elif out.shape == ref.shape and np.allclose(out, ref, atol=1e-3, equal_nan=True):
            continue  # invisible on this input
        else:
            got = mistakes.diagnose(case, out, ref)
        seen.add(mistake.name)
        if got != expected:
            wrong.append(f"{case.exercise}/{mistake.name}: named {got!r}")
    return seen, wrong


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        return (
            isinstance(a, BaseException)
            and isinstance(b, BaseException)
            and (type(a), str(a)) == (type(b), str(b))
        )
    return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-6, equal_nan=True))


def test_catalogue_knows_only_real_exercises() -> None:
    """Is every catalogued exercise in exercises.toml, with names unique within it?"""
    known = set(manifest.by_id())
    catalogue = mistakes.catalogue()
    assert set(catalogue) <= known
    for exercise, listed in catalogue.items():
        names = [m.name for m in listed]
        assert len(names) == len(set(names)), exercise


def test_every_mistake_is_named_by_its_own_output() -> None:
    """On inputs like the checks', does each mistake's output (or error) get its own sentence?"""
    seen: dict[str, set[str]] = {}
    wrong: list[str] = []
    for case, ref in all_cases():
        names, misnamed = _named_by_itself(case, ref)
        seen.setdefault(case.exercise, set()).update(names)
        wrong += misnamed
    assert not wrong, "\n".join(wrong)
    never = {
        ex: sorted({m.name for m in listed} - seen.get(ex, set()))
        for ex, listed in mistakes.catalogue().items()
    }
    assert {ex: names for ex, names in never.items() if names} == {}


def test_the_reference_is_never_blamed() -> None:
    """Is the reference's own output never diagnosed, even slightly off (float32 rounding)?"""
    for case, ref in all_cases():
        rounded = ref.astype(np.float32).astype(np.float64)
        assert mistakes.diagnose(case, rounded, ref) is None, case.exercise


def test_a_mistake_invisible_on_the_input_is_not_claimed() -> None:
    """With d_k = 1 (no scaling is then right) and 1-D scores (whole-tensor sums are right), is
    a wrong answer that happens to equal those mistakes not blamed on them?"""
    scores = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    case = Case("scaled_attention_weights", (scores, 1))
    right = torch.softmax(scores, dim=-1).double().numpy()
    off = right + 0.05  # wrong, but not a catalogued mistake
    assert mistakes.diagnose(case, off, right) is None
    one_d = torch.tensor([0.5, 1.0, 2.0])
    whole = (one_d / one_d.sum()).double().numpy()
    assert mistakes.diagnose(Case("normalize_by_sum", (one_d,)), whole, whole) is None


def test_two_mistakes_at_once_are_not_named() -> None:
    """Does an answer with two mistakes (d_k instead of sqrt, and columns) get no diagnosis?"""
    scores = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [0.2, 0.4, 0.1]])
    both = torch.softmax(scores / 4, dim=0).double().numpy()
    right = torch.softmax(scores / 2, dim=-1).double().numpy()
    assert mistakes.diagnose(Case("scaled_attention_weights", (scores, 4)), both, right) is None


def test_an_error_two_mistakes_raise_names_what_they_share() -> None:
    """softmax_stable with x.max(dim=dim).values (the max without keepdim) raises what the sum
    without keepdim raises: is the message about the max (not about the sum alone)?"""
    x = torch.tensor([[0.0, 1.0], [1000.0, 1001.0], [-1000.0, -999.0]])
    case = Case("softmax_stable", (x,))
    with pytest.raises(RuntimeError) as raised:
        shifted = x - x.max(dim=-1).values
        torch.exp(shifted)
    said = mistakes.diagnose_error(case, "RuntimeError", str(raised.value)) or ""
    assert "x.max(dim=dim).values" in said and "x.amax(dim=dim, keepdim=True)" in said, said


def test_an_error_mistakes_disagree_on_is_not_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two mistakes raising the same error with different sentences: is neither named?"""

    def boom(x: Any) -> Any:
        raise ValueError("the same error")

    two = [mistakes.Mistake("a", "it is a", boom), mistakes.Mistake("b", "it is b", boom)]
    mistakes.mistakes_of("normalize_by_sum")  # the catalogue loaded, then patched
    monkeypatch.setitem(mistakes._CATALOGUE, "normalize_by_sum", two)
    case = Case("normalize_by_sum", (torch.tensor([9.0, 8.0, 7.0]),))
    assert mistakes.diagnose_error(case, "ValueError", "the same error") is None
    monkeypatch.setitem(mistakes._CATALOGUE, "normalize_by_sum", two[:1])
    case = Case("normalize_by_sum", (torch.tensor([9.0, 8.0, 6.0]),))  # not a cached case
    assert mistakes.diagnose_error(case, "ValueError", "the same error") == "it is a"


def test_transposed_weights_in_the_context_vectors_are_named() -> None:
    """all_context_vectors as weights.T @ inputs: does the sentence say the weights are
    transposed (not only "softmax along dim=-1")?"""
    x = torch.tensor([[0.4, 0.1, 0.9], [0.5, 0.9, 0.7], [0.6, 0.8, 0.6], [0.2, 0.6, 0.3]])
    weights = torch.softmax(x @ x.T, dim=-1)
    right = (weights @ x).double().numpy()
    said = mistakes.diagnose(Case("all_context_vectors", (x,)), weights.T @ x, right) or ""
    assert "weights.T @ inputs" in said, said


def test_an_ignored_bias_is_named() -> None:
    """SelfAttention_v2(qkv_bias=True) computing x @ W.weight.T (no bias): is that named, and
    does no sentence of the exercise suggest x @ W_query.weight.T alone?"""
    torch.manual_seed(5)
    model = trainable_attention.SelfAttention_v2(4, 3, qkv_bias=True)
    x = torch.rand(5, 4)
    q, k, v = (x @ getattr(model, n).weight.T for n in ("W_query", "W_key", "W_value"))
    no_bias = torch.softmax(q @ k.T / 3**0.5, dim=-1) @ v
    params = {n: t.detach().clone() for n, t in model.named_parameters()}
    case = Case("SelfAttention_v2", (x,), module_args=(4, 3, True), params=params)
    with torch.no_grad():
        right = model(x).double().numpy()
    said = mistakes.diagnose(case, no_bias.detach(), right) or ""
    assert "bias" in said and "self.W_query(x)" in said, said
    for m in mistakes.mistakes_of("SelfAttention_v2"):
        assert "x @ W_query.weight.T" not in m.says.replace("(x @ W_query.weight.T has", ""), m


def test_a_softmax_along_the_columns_in_causal_attention_is_named() -> None:
    """CausalAttention with its softmax along dim=-2: is it named as the columns mistake?"""
    torch.manual_seed(7)
    model = causal_attention.CausalAttention(4, 3, 6, 0.0).eval()
    x = torch.rand(2, 6, 4)
    q, k, v = (getattr(model, n)(x) for n in ("W_query", "W_key", "W_value"))
    scores = (q @ k.transpose(1, 2)).masked_fill(model.mask.bool(), -torch.inf)
    wrong = torch.softmax(scores / 3**0.5, dim=-2) @ v
    params = {n: t.detach().clone() for n, t in model.named_parameters()}
    case = Case("CausalAttention", (x,), module_args=(4, 3, 6, 0.0), params=params)
    with torch.no_grad():
        right = model(x).double().numpy()
    said = mistakes.diagnose(case, wrong.detach(), right) or ""
    assert "along dim=-1" in said and "columns" in said, said


@pytest.mark.parametrize(
    "exercise, args, build, says",
    [
        (
            "SelfAttention_v1",
            (3, 2),
            lambda: {n: torch.randn(3, 2) for n in ("W_query", "W_key", "W_value")},
            "drawn with torch.randn",
        ),
        (
            "SelfAttention_v1",
            (3, 2),
            lambda: {n: torch.rand(3, 2) for n in ("W_key", "W_query", "W_value")},
            "created in the order W_key, W_query, W_value",
        ),
        (
            "SelfAttention_v2",
            (3, 2),
            lambda: {
                f"{n}.{p}": t
                for n in ("W_query", "W_key", "W_value")
                for p, t in torch.nn.Linear(3, 2).named_parameters()
            },
            "have biases although qkv_bias=False",
        ),
        ("SelfAttention_v1", (3, 2), lambda: {}, None),
    ],
)
def test_seeded_parameters_built_the_wrong_way(
    exercise: str, args: tuple[int, ...], build: Any, says: str | None
) -> None:
    """Are parameters drawn with randn, in another order, or with biases, named as such, and
    the book's own parameters not?"""
    torch.manual_seed(123)
    params = {k: v.detach().clone() for k, v in build().items()}
    if not params:  # the right way: the reference's own
        torch.manual_seed(123)
        params = dict(_reference(exercise)(*args).named_parameters())
    got = mistakes.diagnose_parameters(exercise, args, {}, 123, params)
    if says is None:
        assert got is None
    else:
        assert got is not None and says in got


def test_parameter_names_with_biases() -> None:
    """Do unexpected (or missing) biases alone get named as the qkv_bias mistake?"""
    extra = ["W_query.bias", "W_key.bias"]
    assert "qkv_bias=False" in (mistakes.diagnose_names([], extra) or "")
    assert "qkv_bias=True" in (mistakes.diagnose_names(extra, []) or "")
    assert mistakes.diagnose_names(["W_query.weight"], extra) is None


def test_sentences_carry_no_numbers() -> None:
    """Do the sentences hold no numbers of the kind a hidden value prints as (four decimals)?
    They go into messages about hidden inputs."""
    decimal = re.compile(r"\d\.\d{4}")
    for exercise, listed in mistakes.catalogue().items():
        for m in listed:
            assert not decimal.search(m.says), f"{exercise}/{m.name}: {m.says}"


# ---- the corpus: every diagnosed mistake, named by make check -------------------------------


def expectations(entry: str) -> dict[str, Any]:
    with open(CORPUS / entry / "expected.toml", "rb") as f:
        return tomllib.load(f)


def named_in_check(entry: str) -> dict[str, str]:
    spec = expectations(entry)
    return spec.get("diagnosis", {}) | spec.get("check_diagnosis", {})


DIAGNOSED = sorted(p.parent.name for p in CORPUS.glob("mistake_*/expected.toml")
                   if named_in_check(p.parent.name))  # fmt: skip

# The issue's list of mistakes, each with the corpus entries that submit it.
ISSUE = {
    "scaling by d_k instead of sqrt(d_k)": ["mistake_scale_by_dk", "mistake_causal_scale_by_dk"],
    "scaling by d_in or d_out": ["mistake_scale_by_d_in", "mistake_mha_scale_by_d_out"],
    "no scaling": ["mistake_no_scaling"],
    "softmax or normalisation along the wrong dimension": [
        "mistake_softmax_dim0",
        "mistake_softmax_stable_ignores_dim",
    ],
    "normalisation over the whole tensor": [
        "mistake_normalize_whole_sum",
        "mistake_softmax_whole_tensor",
    ],
    "softmax without the max shift": ["mistake_stable_no_shift", "mistake_softmax_rows_no_shift"],
    "masking with 0 instead of -inf": ["mistake_mask_zero_weights", "mistake_causal_mask_zero"],
    "the mask including the diagonal": ["mistake_mask_diagonal"],
    "the mask inverted": ["mistake_mask_inverted"],
    "forgetting to renormalise": ["mistake_no_renormalize"],
    "keys and values swapped": ["mistake_keys_values_swapped"],
    "queries and keys swapped": ["mistake_queries_keys_swapped"],
    "transposed weights": ["mistake_transposed_weights"],
    "randn instead of rand": ["mistake_v1_randn"],
    "parameters created in another order": ["mistake_v1_key_first", "mistake_mha_out_proj_first"],
    "nn.Linear with a bias when qkv_bias=False": [
        "mistake_v2_bias_always",
        "mistake_causal_bias_always",
    ],
    "returning the weights instead of the context vectors": ["mistake_returns_weights"],
    "heads concatenated along the wrong dimension": ["mistake_concat_wrong_dim"],
    "heads split with view and no transpose": ["mistake_split_heads_no_transpose"],
    "forgetting out_proj": ["mistake_no_out_proj"],
    "the mask not cut to the sequence length": ["mistake_mask_not_cut"],
    "dropout in the wrong place": ["mistake_dropout_on_context", "mistake_mha_dropout_on_output"],
    "numpy sums without keepdims": ["mistake_softmax_no_keepdims"],
}


def test_the_issue_list_is_covered_by_the_corpus() -> None:
    """Does every mistake of the list have corpus entries whose messages must name it, in
    `make check` and in the feedback?"""
    for kind, entries in ISSUE.items():
        for entry in entries:
            spec = expectations(entry)
            both = spec.get("diagnosis", {})
            assert both or spec.get("check_diagnosis"), f"{kind}: {entry} names nothing"
            assert both or spec.get("feedback_diagnosis"), f"{kind}: {entry} names nothing"


def test_corpus_phrases_are_catalogue_sentences() -> None:
    """Is every phrase a corpus entry expects part of a catalogued sentence (or of the public
    dropout check's own message), so no phrase is unreachable?"""
    sentences = [m.says for listed in mistakes.catalogue().values() for m in listed]
    sentences += [*seeded.sentences(), mistakes.diagnose_names([], ["W_query.bias"]) or ""]
    sentences += [m.says for m in graph.MISTAKES]
    public = (ROOT / "learner" / "public" / "test_causal_attention.py").read_text()
    for path in CORPUS.glob("mistake_*/expected.toml"):
        spec = expectations(path.parent.name)
        for table in ("diagnosis", "check_diagnosis", "feedback_diagnosis"):
            for exercise, phrase in spec.get(table, {}).items():
                assert exercise in manifest.by_id(), f"{path.parent.name}: {exercise}"
                bare = phrase.removeprefix("in your heads (CausalAttention): ")
                assert any(bare in s for s in sentences) or phrase in public, (
                    f"{path.parent.name}: {phrase!r}"
                )


# Runs check.main(["--ex", exercise]) for each workspace and exercise, in one process.
DRIVER = """
import contextlib, io, json, os, sys
from learner import check

results = {}
for name, (ws, exercises) in json.loads(sys.argv[1]).items():
    for module in [m for m in sys.modules if m.split(".")[0] == "exercises"]:
        del sys.modules[module]
    os.chdir(ws)
    sys.path.insert(0, ws)
    for exercise in exercises:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            check.main(["--ex", exercise])
        results[f"{name}:{exercise}"] = out.getvalue()
    sys.path.remove(ws)
print(json.dumps(results))
"""


def build(entry: str, tmp: Path) -> Path:
    """A workspace: the solutions, overlaid with the entry's own modules."""
    target = tmp / entry / "exercises"
    target.mkdir(parents=True)
    for path in (ROOT / "solutions").glob("*.py"):
        shutil.copy(path, target / path.name)
    corpus_entries.materialise(CORPUS / entry, target)
    return tmp / entry


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("mistakes")
    work = {e: (str(build(e, tmp)), sorted(named_in_check(e))) for e in DIAGNOSED}
    return check_each(work, timeout=600)


def check_each(work: dict[str, tuple[str, list[str]]], *, timeout: float) -> dict[str, str]:
    """`make check EX=<exercise>`'s output, by "name:exercise", for each workspace (name ->
    (folder, exercises)), all in one subprocess."""
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(work)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("entry", DIAGNOSED)
def test_make_check_names_the_mistake(entry: str, checked: dict[str, str]) -> None:
    """Does `make check EX=<exercise>` on the submitted mistake fail it and name the mistake?"""
    for exercise, phrase in named_in_check(entry).items():
        out = checked[f"{entry}:{exercise}"]
        assert f"✗ {exercise}: " in out, out
        detail = out.split("Progress:")[1]
        lines = [line.strip() for line in detail.splitlines() if phrase in line]
        assert lines, f"{exercise}: {phrase!r} not in\n{detail}"
        if exercise in expectations(entry).get("diagnosis", {}):  # a catalogued sentence
            assert lines[0].startswith("Looks like: "), detail


def test_right_computation_with_the_wrong_parameters_is_said() -> None:
    """When the output is what the module's own (randn) parameters give, does the diagnosis
    say the computation is right, and only then?"""
    torch.manual_seed(123)
    params = {n: torch.randn(3, 2) for n in ("W_query", "W_key", "W_value")}
    case = Case(
        "SelfAttention_v1",
        (torch.rand(5, 3),),
        module_args=(3, 2),
        params=params,
        seed=123,
        right=np.ones((5, 2)),
    )
    right = mistakes.diagnose(case, np.ones((5, 2)), np.zeros((5, 2)))
    other = mistakes.diagnose(case, np.full((5, 2), 2.0), np.zeros((5, 2)))
    assert right is not None and right.startswith("your computation is right, but ")
    assert other is not None and "torch.randn" in other and "computation" not in other
