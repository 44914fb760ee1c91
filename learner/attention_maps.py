"""The attention-weight exercises drawn as heatmaps, each on a worked example's input.

For `make check`: the first failing exercise (or the one chosen with EX=) is called again on its
example's input and drawn beside the expected weights, which come from the public fixtures and
the public oracle (learner/public/oracle.py), never from the solutions. For the instructor's
feedback: the expected map alone, since the gradebook keeps the checks' messages, not the arrays
a submission returned.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from . import heatmap, timelimit

PLOTS = Path("build") / "plots"  # relative to the student's folder (where make check runs)
CALL_SECONDS = timelimit.SECONDS  # the public tests ran this call already; stopped here too


@dataclass(frozen=True)
class Case:
    """One exercise on one example's input: how to call it, and the weights it should give."""

    exercise: str
    module: str
    sentence: str  # the tokens, as the example writes them
    source: str  # where the student finds the input: a book section or a notebook
    args: Callable[[], tuple[Any, ...]]  # the input, as the public tests build it
    expected: Callable[[], np.ndarray]  # float64 [n, n], from the fixture and the oracle
    pick: Callable[[Any], Any] = lambda result: result  # the weights inside what came back
    name: str = ""  # tells apart the PNGs of an exercise drawn on more than one input

    @property
    def labels(self) -> list[str]:
        return self.sentence.split()

    @property
    def png(self) -> Path:
        return PLOTS / f"{self.exercise}{'_' + self.name if self.name else ''}.png"

    @property
    def title(self) -> str:
        return f'{self.exercise} on "{self.sentence}" ({self.source})'


# ---- the inputs, built as the public tests build them ------------------------------------------


def _journey() -> Any:
    from .public.scenarios import journey

    return journey()


def _cat() -> Any:
    from .public.scenarios import cat_ran

    return cat_ran()


def _cat_scores() -> np.ndarray:
    x = _cat().double().numpy()
    return x @ x.T  # (3, 3)


def _journey_scores() -> np.ndarray:
    x = _journey().double().numpy()
    return x @ x.T  # (6, 6)


def _journey_scores_tensor() -> Any:
    import torch

    return torch.tensor(_journey_scores(), dtype=torch.float32)  # (6, 6)


def _journey_weights() -> Any:
    import torch

    from .public import oracle

    return torch.tensor(oracle.softmax(_journey_scores()), dtype=torch.float32)  # (6, 6)


def _wars_scores() -> Any:
    from .public.scenarios import wars, wars_weights

    x = wars()
    w_query, w_key, _ = wars_weights()
    return (x @ w_query) @ (x @ w_key).T  # (5, 5)


def _doc000() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Document 000's X with W_Q, W_K, W_V drawn as its public test draws them (seeds 0, 1, 2)."""
    from .public.expect import fixture
    from .public.scenarios import rand_np

    given = fixture("doc000_numpy_shapes")
    d, d_k = given["d"].value, given["d_k"].value
    x = np.array(given["X"].value, dtype=np.float64)
    return x, rand_np(0, d, d_k), rand_np(1, d, d_k), rand_np(2, d, d_k)


def _softmax(scores: np.ndarray) -> np.ndarray:
    from .public import oracle

    return oracle.softmax(scores)


def _future(n: int) -> np.ndarray:
    from .public import oracle

    return oracle.future(n)


def _renormalized(weights: np.ndarray) -> np.ndarray:
    kept = np.where(_future(weights.shape[-1]), 0.0, weights)
    return kept / kept.sum(axis=-1, keepdims=True)


def _causal(scores: np.ndarray, d_k: int) -> np.ndarray:
    return _softmax(np.where(_future(scores.shape[-1]), -np.inf, scores / d_k**0.5))


def _doc000_weights() -> np.ndarray:
    x, wq, wk, _ = _doc000()
    q, k = x @ wq, x @ wk
    return _softmax(q @ k.T / np.sqrt(k.shape[1]))


def _second_of_pair(result: Any) -> Any:
    """attention_weights from (output, attention_weights); None for anything else."""
    return result[1] if isinstance(result, tuple) and len(result) == 2 else None


JOURNEY = "Your journey starts with one step"
JOURNEY_SOURCE = "book section 3.3.1"
WARS = "wars not make one great"
WARS_D_K = 2  # d_k = keys.shape[1] in the "wars not make one great" example
JOURNEY_D = 3  # the journey tokens are 3-d: d_k = 3 when the scores are x @ x.T

CAT = "The cat ran"

ALL_CASES = (
    Case(
        "all_attention_weights", "simple_attention", JOURNEY, JOURNEY_SOURCE,
        lambda: (_journey(),),
        lambda: _softmax(_journey_scores()),
    ),
    Case(
        "all_attention_weights", "simple_attention", CAT, "notebooks/simple_attention.ipynb",
        lambda: (_cat(),),
        lambda: _softmax(_cat_scores()),
        name="cat_ran",
    ),
    Case(
        "scaled_attention_weights", "trainable_attention", WARS,
        "notebooks/trainable_attention.ipynb, seed 123",
        lambda: (_wars_scores(), WARS_D_K),
        lambda: _softmax(_wars_scores().double().numpy() / WARS_D_K**0.5),
    ),
    Case(
        "softmax_rows", "numpy_attention", JOURNEY, JOURNEY_SOURCE,
        lambda: (_journey_scores(),),
        lambda: _softmax(_journey_scores()),
    ),
    Case(
        "self_attention_numpy", "numpy_attention", "token1 token2 token3",
        "the numpy example's X, seeded weights",
        lambda: _doc000(),
        _doc000_weights,
        pick=_second_of_pair,
    ),
    Case(
        "mask_and_renormalize", "causal_attention", JOURNEY, JOURNEY_SOURCE,
        lambda: (_journey_weights(),),
        lambda: _renormalized(_journey_weights().double().numpy()),
    ),
    Case(
        "causal_attention_weights", "causal_attention", JOURNEY, JOURNEY_SOURCE,
        lambda: (_journey_scores_tensor(), JOURNEY_D),
        lambda: _causal(_journey_scores(), JOURNEY_D),
    ),
)  # fmt: skip
CASES: dict[str, tuple[Case, ...]] = {}  # exercise -> its cases, the first one for the feedback
for _case in ALL_CASES:
    CASES[_case.exercise] = (*CASES.get(_case.exercise, ()), _case)


@cache
def expected(case: Case) -> np.ndarray:
    return case.expected()


# ---- make check ------------------------------------------------------------------------------


def choose(statuses: Sequence[Any], selector: str | None) -> str | None:
    """The exercise to draw: the failing one that make check explains, if it has a heatmap;
    else, when everything EX= names (an exercise or a topic) passes, its first with a map."""
    explained = next((s for s in statuses if s.state in ("failing", "broken")), None)
    if explained is not None:
        ok = explained.state == "failing" and explained.exercise.id in CASES
        return explained.exercise.id if ok else None
    if selector and statuses and all(s.state == "done" for s in statuses):
        return next((s.exercise.id for s in statuses if s.exercise.id in CASES), None)
    return None


def _call(function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """function(*args), its printing swallowed, stopped after CALL_SECONDS where signals allow."""
    sink = io.StringIO()
    with timelimit.limited(CALL_SECONDS):
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return function(*args)


def student_weights(case: Case, target: str) -> tuple[Any, str]:
    """(the student's weights on the case's input, "") or (None, why there are none)."""
    import importlib

    exercise = case.exercise
    try:
        module = importlib.import_module(f"{target}.{case.module}")
        result = _call(getattr(module, exercise), case.args())
    except timelimit.Stuck:
        return None, f"your {exercise} was still running after {CALL_SECONDS:g} s"
    except Exception as e:  # the student's code: anything can come out of it
        return None, f"your {exercise} raised {type(e).__name__} on this input"
    weights = case.pick(result)
    if weights is None:
        return None, f"your {exercise} did not return (output, attention_weights)"
    return weights, ""


def after_check(statuses: Sequence[Any], selector: str | None, target: str, *, plot: bool) -> str:
    """What make check prints after its report: the heatmap, the PNG's path, or ""."""
    exercise = choose(statuses, selector)
    if exercise is None:
        if not plot:
            return ""
        names = ", ".join(CASES)
        return f"PLOT=1 draws one of these when it fails or is chosen with EX=: {names}."
    drawn, written = [], []
    for case in CASES[exercise]:
        weights, why = student_weights(case, target)
        want: np.ndarray | None = expected(case)
        title = case.title
        if _same(weights, want):  # two identical maps side by side would only be noise
            want, title = None, f"{case.title}: yours, the same as the expected"
        drawn.append(heatmap.terminal(weights, case.labels, want, title=title))
        if why:
            drawn[-1] += f"\n  ({why}: only the expected weights are drawn)"
        if plot:
            written.append(_plot(case, weights, want, title))
            if not written[-1].startswith("Heatmap written"):
                break  # no matplotlib, or no room: once is enough
    return "\n\n".join(drawn) + "".join(f"\n{line}" for line in written)


def _same(weights: Any, want: np.ndarray) -> bool:
    """Whether the student's weights are the expected ones (within the public tests' tolerance)."""
    yours = heatmap.as_matrix(weights)
    return yours is not None and yours.shape == want.shape and np.allclose(yours, want, atol=1e-4)


def _plot(case: Case, weights: Any, want: np.ndarray | None, title: str) -> str:
    try:
        heatmap.png(case.png, weights, case.labels, want, title=title)
    except heatmap.PlotUnavailable as e:
        return str(e)
    except OSError as e:
        return f"could not write {case.png}: {e.strerror or e}"
    return f"Heatmap written to {case.png}"


# ---- feedback --------------------------------------------------------------------------------


@cache
def feedback_map(exercise: str) -> str:
    """The expected weights on the example's input as shaded cells (UTF-8), or "" if none."""
    if exercise not in CASES:
        return ""
    case = CASES[exercise][0]
    return heatmap.terminal(None, case.labels, expected(case), title=case.title, unicode=True)
