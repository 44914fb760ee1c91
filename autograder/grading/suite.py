"""The hidden suites' vocabulary and their runner.

A hidden check is a function `test_*(student, ref, inputs)` marked with `@check(exercise, weight)`:
an exercise's points live in exercises.toml only; each check gets its weight's share of them.
`student` runs the submission's code in its sandbox, `ref` is the reference solutions (only ever
in the grader's process), `inputs` draws fresh inputs from the run's secret seed. The same
functions run under pytest (`pytest autograder/hidden --submission DIR`) and, much faster, under
`run_submission` here, which grades a batch without starting pytest once per student.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from learner import manifest, mistakes
from learner.compare import FLOAT32_ATOL, mismatch

from .model import CheckResult, Graded, Submission
from .protocol import Value
from .student import BUDGET_PROBLEM, ModuleRun, Student, StudentError

HIDDEN_PACKAGE = "autograder.hidden"
ATOL = FLOAT32_ATOL  # float32 attention on inputs of order 1 (make check's tolerance too)
ATOL64 = 1e-7  # float64 inputs: float64 rounding, with room for another order of summing


@dataclass(frozen=True)
class Check:
    exercise: str
    weight: float  # relative: the check's points are its share of the exercise's manifest points
    fn: Callable[..., None]
    hidden: bool
    points: float = 0.0  # set by discover() from the manifest and the exercise's weights

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def where(self) -> str:
        """file:line of the check, for startup messages."""
        code = self.fn.__code__
        return f"{code.co_filename}:{code.co_firstlineno}"


def check(
    exercise: str, weight: float = 1.0, *, hidden: bool = True
) -> Callable[[Callable], Callable]:
    """Mark a hidden-suite function as a check of `exercise` with a relative `weight`."""

    def mark(fn: Callable) -> Callable:
        fn.__check__ = Check(exercise, float(weight), fn, hidden)  # type: ignore[attr-defined]
        return fn

    return mark


def check_points(exercise_points: float, weight: float, weights: Iterable[float]) -> float:
    """A check's points: the exercise's manifest points x its weight / the exercise's weights."""
    total = sum(weights)
    return exercise_points * weight / total if total > 0 else 0.0


class Inputs:
    """Fresh inputs for one check: the same for every student in a run, new in the next run."""

    def __init__(self, run_seed: int, name: str) -> None:
        digest = hashlib.sha256(f"{run_seed}:{name}".encode()).digest()
        self.seed_value = int.from_bytes(digest[:8], "little") >> 1
        self.gen = torch.Generator().manual_seed(self.seed_value)

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed_value)

    def tensor(
        self, *shape: int, dtype: torch.dtype = torch.float32, scale: float = 1.0
    ) -> torch.Tensor:
        """Uniform in [-scale, scale)."""
        return ((torch.rand(shape, generator=self.gen, dtype=torch.float64) * 2 - 1) * scale).to(
            dtype
        )

    def positive(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform in [0.1, 1.1): sums that are safely away from 0."""
        return (torch.rand(shape, generator=self.gen, dtype=torch.float64) + 0.1).to(dtype)

    def array(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return self.rng.uniform(-scale, scale, size=shape)

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))


class Reference:
    """The reference solutions by exercise id (grader process only)."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        for module in manifest.modules():
            mod = importlib.import_module(f"solutions.{module}")
            for ex in manifest.load():
                if ex.module == module:
                    self._objects[ex.id] = getattr(mod, ex.id)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._objects[name]
        except KeyError:
            raise AttributeError(name) from None


# ---- what the checks assert --------------------------------------------------------------------


def as_array(got: Value, *, kind: str = "torch", what: str) -> np.ndarray:
    """The returned array, or an AssertionError saying what came back instead."""
    wanted = {"torch": "a torch.Tensor", "numpy": "a numpy.ndarray"}[kind]
    if got.kind != kind or got.array is None:
        raise AssertionError(f"{what}: expected {wanted}, got {got.describe()}")
    if got.subclass:
        raise AssertionError(f"{what}: expected a plain {wanted}, got a subclass of it")
    return got.array


def expect_close(
    got: Value,
    expected: torch.Tensor | np.ndarray,
    *,
    what: str,
    atol: float | None = None,
    reveal: bool = False,
    case: mistakes.Case | None = None,
) -> None:
    """Assert `got` is the expected tensor (kind, shape, values); hidden values stay hidden.

    `case` (the exercise and its inputs): a failure that is a known mistake's output says which.
    """
    kind = "torch" if isinstance(expected, torch.Tensor) else "numpy"
    exp = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    arr = as_array(got, kind=kind, what=what)
    tol = atol if atol is not None else (ATOL64 if exp.dtype == np.float64 else ATOL)
    problem = mismatch(arr, exp, atol=tol)
    if problem is None:
        return
    if not reveal and "entries differ" in problem:
        problem = problem.split(";")[0] + f" (tolerance {tol:g})"
    raise AssertionError(f"{what}: {problem}" + looks_like(mistakes.diagnose(case, arr, exp)))


def looks_like(diagnosis: str | None) -> str:
    """The line a diagnosis adds to a message (nothing without one)."""
    return f"\nLooks like: {diagnosis}" if diagnosis else ""


def expect_dtype(got: Value, dtype: str, *, what: str) -> None:
    if got.dtype != dtype:
        raise AssertionError(
            f"{what}: dtype {got.dtype}, expected {dtype} (keep the input's dtype)"
        )


def expect_parameters(run: ModuleRun, shapes: dict[str, tuple[int, ...]], *, what: str) -> None:
    """The module's parameters are exactly these names with these shapes."""
    got = {k: tuple(v.shape) for k, v in run.parameters.items()}
    if got != shapes:
        missing = sorted(set(shapes) - set(got))
        extra = sorted(set(got) - set(shapes))
        wrong = sorted(k for k in set(got) & set(shapes) if got[k] != shapes[k])
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        for k in wrong:
            parts.append(f"{k} has shape {list(got[k])}, expected {list(shapes[k])}")
        diagnosis = mistakes.diagnose_names(missing, extra)
        raise AssertionError(
            f"{what}: parameters differ: {'; '.join(parts)}" + looks_like(diagnosis)
        )


# ---- the runner ----------------------------------------------------------------------------------


def discover(modules: Iterable[str] | None = None) -> list[Check]:
    """Every hidden check, in teaching order of exercises, then definition order."""
    checks: list[Check] = []
    for module in modules or manifest.modules():
        mod = importlib.import_module(f"{HIDDEN_PACKAGE}.test_{module}")
        checks.extend(
            fn.__check__
            for _, fn in inspect.getmembers(mod, inspect.isfunction)
            if hasattr(fn, "__check__")
        )
        helpers = importlib.import_module(f"{HIDDEN_PACKAGE}.helpers")
        checks.extend(helpers.documented_checks(module))  # the docstrings' worked examples
    dropped = manifest.dropped()  # exercises.toml's `drop`: not graded, no points
    checks = [c for c in checks if c.exercise not in dropped]
    order = {e.id: i for i, e in enumerate(manifest.load())}
    checks.sort(  # per exercise: its docstring's examples first, then the checks as written
        key=lambda c: (
            order.get(c.exercise, 1 << 30),
            not getattr(c.fn, "__documented__", False),
            c.fn.__code__.co_firstlineno,
        )
    )
    return with_points(checks)


def with_points(checks: list[Check]) -> list[Check]:
    """The checks with their points computed from the manifest (the one place that does)."""
    points = {e.id: e.points for e in manifest.load()}
    weights: dict[str, list[float]] = {}
    for c in checks:
        weights.setdefault(c.exercise, []).append(c.weight)
    return [
        replace(c, points=check_points(points.get(c.exercise, 0.0), c.weight, weights[c.exercise]))
        for c in checks
    ]


def validate(checks: list[Check], modules: Iterable[str] | None = None) -> list[str]:
    """Problems with the suites, each naming its file and line: checks of unknown exercises,
    non-positive weights, exercises of the manifest (in `modules`) without a hidden check."""
    problems = []
    known = {e.id for e in manifest.load()}
    for c in checks:
        if c.exercise not in known:
            problems.append(
                f"{c.where}: {c.name} checks {c.exercise!r}, which exercises.toml does not list"
            )
        if not c.weight > 0:
            problems.append(f"{c.where}: {c.name} has weight {c.weight:g}; a weight must be > 0")
    covered = {c.exercise for c in checks}
    wanted = set(modules) if modules is not None else None
    for e in manifest.load():
        if e.id not in covered and (wanted is None or e.module in wanted):
            problems.append(
                f"{manifest.MANIFEST.name}: exercise {e.id!r} ({e.points:g} points) has no check "
                f"in {HIDDEN_PACKAGE.replace('.', '/')}/test_{e.module}.py"
            )
    return problems


def run_check(c: Check, student: Student, ref: Reference, run_seed: int) -> None:
    wanted = _parameters(c.fn)
    args = {"student": student, "ref": ref}
    if "inputs" in wanted:
        args["inputs"] = Inputs(run_seed, c.name)
    c.fn(**{k: v for k, v in args.items() if k in wanted})


@functools.cache
def _parameters(fn: Callable[..., None]) -> frozenset[str]:
    return frozenset(inspect.signature(fn).parameters)


def grade_exercise(
    exercise: manifest.Exercise,
    checks: list[Check],
    student: Student,
    ref: Reference,
    run_seed: int,
    static_violation: str | None = None,
) -> tuple[list[CheckResult], list[str]]:
    """Run one exercise's checks; returns the results and any grader-side errors."""
    results: list[CheckResult] = []
    errors: list[str] = []
    zero_all: str | None = static_violation
    forfeit = static_violation is not None  # an off-limits call costs the whole exercise
    for c in checks:
        if zero_all:
            results.append(CheckResult(c.exercise, c.name, c.points, 0.0, zero_all, c.hidden))
            continue
        try:
            run_check(c, student, ref, run_seed)
            results.append(CheckResult(c.exercise, c.name, c.points, c.points, "", c.hidden))
        except AssertionError as e:
            results.append(CheckResult(c.exercise, c.name, c.points, 0.0, str(e)[:1500], c.hidden))
        except StudentError as e:
            message = _student_message(e)
            results.append(CheckResult(c.exercise, c.name, c.points, 0.0, message, c.hidden))
            if e.kind == "missing":  # a file that does not import or lacks the name: a problem
                errors.append(message)
            if e.kind == "budget" and BUDGET_PROBLEM not in errors:  # later checks: not run
                errors.append(BUDGET_PROBLEM)
            if e.kind in ("offlimits", "missing", "timeout"):
                zero_all = message if e.kind != "timeout" else "skipped: an earlier check timed out"
            forfeit = forfeit or e.kind == "offlimits"
        except Exception as e:  # a bug in the suite, never the student's fault: say so loudly
            results.append(
                CheckResult(
                    c.exercise, c.name, c.points, 0.0, "grader error (not your fault)", c.hidden
                )
            )
            errors.append(f"grader error in {c.name}: {type(e).__name__}: {e}")
    if forfeit and zero_all:
        results = [
            CheckResult(r.exercise, r.name, r.max_points, 0.0, r.message or zero_all, r.hidden)
            for r in results
        ]
    return results, errors


def _student_message(e: StudentError) -> str:
    if e.kind == "offlimits":
        return f"{e.message}: this exercise asks you to write it yourself, so it scores 0"
    if e.kind == "exception":
        tb = f"\n{e.traceback.rstrip()}" if e.traceback else ""
        return f"your code raised {e.message}{tb}"
    return e.message


def run_submission(
    submission: Submission,
    student: Student,
    checks: list[Check],
    ref: Reference,
    run_seed: int,
    static_scan: Callable[[Submission, manifest.Exercise], str | None] = lambda s, e: None,
) -> Graded:
    """Grade every exercise of one submission, each on its own."""
    graded = Graded(submission.student, submission.digest, run_seed, errors=list(submission.errors))
    graded.started = time.time()
    by_exercise: dict[str, list[Check]] = {}
    for c in checks:
        by_exercise.setdefault(c.exercise, []).append(c)
    for exercise in manifest.load():
        mine = by_exercise.get(exercise.id, [])
        if exercise.module not in submission.sources:
            why = f"exercises/{exercise.module}.py is missing"
            graded.checks += [
                CheckResult(c.exercise, c.name, c.points, 0.0, why, c.hidden) for c in mine
            ]
            continue
        results, errors = grade_exercise(
            exercise, mine, student, ref, run_seed, static_scan(submission, exercise)
        )
        graded.checks += results
        graded.errors += [e for e in errors if e not in graded.errors]
    graded.output = "\n".join(student.output)[:4096]
    graded.finished = time.time()
    return graded
