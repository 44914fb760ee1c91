"""The hidden suites, graded through the real sandbox: full marks for every correct submission,
exactly the expected loss for every mistake in tests/corpus, and no hidden value in a message.

A corpus entry is tests/corpus/<name>/ with expected.toml (`base`: "solutions", "exercises" or
"none", the modules the entry does not hold itself; `[points]`: exercise id -> points for each
exercise that loses any; unlisted exercises get full marks) and exercises/<module>.py files.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder import ROOT
from autograder.grading import suite
from autograder.grading.grader import Grader
from autograder.grading.isolate import SandboxChannel
from autograder.grading.model import Graded, Submission
from autograder.grading.student import Student
from learner import manifest
from tests import corpus_entries

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow  # the corpus through the real grader

pytest_plugins = ("pytester",)

CORPUS = ROOT / "tests" / "corpus"
BASES = {"solutions": ROOT / "solutions", "exercises": ROOT / "exercises", "none": None}
IDS = [e.id for e in manifest.load()]
FULL = {e.id: e.points for e in manifest.load()}
RUN_SEED = 20260
HANG_TIMEOUT = 3.0  # seconds per call: the hanging corpus entry waits this long, once


@dataclass
class Entry:
    name: str
    sources: dict[str, str]
    expected: dict[str, float]  # every exercise id
    description: str = ""


def read_modules(folder: Path | None) -> dict[str, str]:
    if folder is None or not folder.is_dir():
        return {}
    return {
        m: (folder / f"{m}.py").read_text()
        for m in manifest.modules()
        if (folder / f"{m}.py").exists()
    }


def load_entry(folder: Path) -> Entry:
    with open(folder / "expected.toml", "rb") as f:
        spec = tomllib.load(f)
    base = spec.get("base", "solutions")
    if base not in BASES:
        raise ValueError(f"{folder.name}: base {base!r} is not one of {sorted(BASES)}")
    unknown = set(spec.get("points", {})) - set(IDS)
    if unknown:
        raise ValueError(f"{folder.name}: unknown exercises {sorted(unknown)} in [points]")
    sources = read_modules(BASES[base]) | read_modules(folder / "exercises")
    sources |= corpus_entries.sources(folder)  # modules stored as edits of the base
    expected = corpus_entries.expected_points(folder)
    return Entry(folder.name, sources, expected, spec.get("description", ""))


def corpus() -> list[Entry]:
    """Every entry graded from its modules, but those tests/test_attacks.py alone grades (through
    `attention-kit autograde` under its reaper, asserting their points there): an attack on
    collection itself, a notebook or a file name (`through_collection`), one whose points depend
    on the attack batch's --timeout and --budget (`batch_only`), and the exhaustion attacks
    (time, memory, processes, output: what they try is the batch's limits)."""
    specs = {p.parent: tomllib.loads(p.read_text()) for p in sorted(CORPUS.glob("*/expected.toml"))}
    return [
        load_entry(folder)
        for folder, spec in specs.items()
        if not (
            spec.get("through_collection")
            or spec.get("batch_only")
            or (folder.name.startswith("attack_") and spec.get("family") == "exhaustion")
        )
    ]


def submission(name: str, sources: dict[str, str]) -> Submission:
    return Submission(student=name, origin=CORPUS / name, sources=sources, digest=name)


def diff(expected: dict[str, float], got: dict[str, float]) -> str:
    """`exercise: expected 3, got 1.5 (test_x: message)` for each exercise that differs."""
    return "\n".join(
        f"  {ex}: expected {expected[ex]:g}, got {got[ex]:g}"
        for ex in IDS
        if expected[ex] != got[ex]
    )


def failures(graded: Graded, exercises: set[str]) -> str:
    return "\n".join(
        f"    {c.name} ({c.points:g}/{c.max_points:g}): {c.message[:300]}"
        for c in graded.checks
        if c.exercise in exercises and c.points < c.max_points
    )


# ---- one zygote for the module; the corpus graded once, with every hidden expectation recorded --


@dataclass
class Recorded:
    """What the corpus run saw: results per entry, and per check the hidden expected arrays."""

    graded: dict[str, Graded] = field(default_factory=dict)
    hidden: dict[str, list[np.ndarray]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(run_seed=RUN_SEED, timeout=HANG_TIMEOUT) as g:
        yield g


@pytest.fixture(scope="module")
def recorded(grader: Grader) -> Iterator[Recorded]:
    """Grade every corpus entry once; note each expected value a check keeps hidden."""
    out = Recorded()
    current: list[str] = [""]
    entry_name: list[str] = [""]
    real_run_check, real_expect_close = suite.run_check, suite.expect_close

    def run_check(c: suite.Check, *args: Any) -> None:
        current[0] = c.name
        real_run_check(c, *args)

    def expect_close(got: Any, expected: Any, **kwargs: Any) -> None:
        if not kwargs.get("reveal", False):  # per entry: each submission has inputs of its own
            arr = expected.detach().numpy() if hasattr(expected, "detach") else expected
            key = f"{entry_name[0]}/{current[0]}"
            out.hidden.setdefault(key, []).append(np.asarray(arr, dtype=np.float64))
        real_expect_close(got, expected, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(suite, "run_check", run_check)
        for module in sys.modules.copy().values():
            name = getattr(module, "__name__", "")
            if name.startswith("autograder.hidden") and hasattr(module, "expect_close"):
                mp.setattr(module, "expect_close", expect_close)
        for entry in corpus():
            entry_name[0] = entry.name
            out.graded[entry.name] = grader.grade(submission(entry.name, entry.sources))
    yield out


# ---- the suites themselves -------------------------------------------------------------------


def test_suites_match_the_manifest() -> None:
    """Does every check name a known exercise with a positive weight, and every exercise have
    a check?"""
    assert suite.validate(suite.discover()) == []


def _declared_weights() -> dict[tuple[str, str], float]:
    """(exercise, check name) -> weight, read from the hidden suites' source text."""
    found: dict[tuple[str, str], float] = {}
    decorator = re.compile(
        r'^@check\("(\w+)"(?:, (?:weight=)?([0-9.]+))?[^)]*\)\s*\ndef (\w+)', re.M
    )
    for path in sorted((ROOT / "autograder" / "hidden").glob("test_*.py")):
        for exercise, weight, name in decorator.findall(path.read_text(encoding="utf-8")):
            found[exercise, name] = float(weight or 1)
    # and one check of weight 1 per `>>>` example in a reference function's docstring
    for path in sorted((ROOT / "solutions").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                prompts = [line for line in doc.splitlines() if line.lstrip().startswith(">>> ")]
                for n in range(1, len(prompts) + 1):
                    found[node.name, f"test_{node.name.lower()}_example_{n}"] = 1.0
    return found


def test_check_points_are_the_manifest_points_shared_by_weight() -> None:
    """Is each check worth its exercise's points in exercises.toml x its weight / the sum of
    the exercise's weights (computed here from the two files' text, not by the suite)?"""
    with open(ROOT / "exercises.toml", "rb") as f:
        points = {e["id"]: float(e["points"]) for e in tomllib.load(f)["exercise"]}
    weights = _declared_weights()
    sums: dict[str, float] = {}
    for (exercise, _), w in weights.items():
        sums[exercise] = sums.get(exercise, 0.0) + w
    expected = {(ex, n): points[ex] * w / sums[ex] for (ex, n), w in weights.items()}
    got = {(c.exercise, c.name): c.points for c in suite.discover()}
    assert got.keys() == expected.keys()
    assert {k: v for k, v in got.items() if abs(v - expected[k]) > 1e-9} == {}
    # and the exercises' checks add up to exactly the manifest's points
    totals: dict[str, float] = {}
    for (ex, _), v in got.items():
        totals[ex] = totals.get(ex, 0.0) + v
    assert {ex: t for ex, t in totals.items() if abs(t - points[ex]) > 1e-9} == {}


def test_weights_accept_the_positional_form_and_default_to_one() -> None:
    """Do `@check(ex, 2)`, `@check(ex, weight=2)` and `@check(ex)` mean weights 2, 2 and 1?"""

    def f() -> None: ...

    assert suite.check("attention_scores", 2)(f).__check__.weight == 2.0
    assert suite.check("attention_scores", weight=2)(f).__check__.weight == 2.0
    assert suite.check("attention_scores")(f).__check__.weight == 1.0
    assert suite.check_points(6, 1, [1, 2]) == 2.0


def test_startup_names_real_suite_problems_with_file_and_line() -> None:
    """Do an unknown exercise, a non-positive weight and an exercise without a check each give
    one specific message naming where to look?"""

    def test_typo() -> None: ...

    def test_zero() -> None: ...

    typo = suite.check("atention_scores", 1)(test_typo).__check__
    zero = suite.check("normalize_by_sum", weight=0)(test_zero).__check__
    real = [c for c in suite.discover(["simple_attention"]) if c.exercise != "context_vector"]
    problems = suite.validate([*real, typo, zero], ["simple_attention"])
    line = test_typo.__code__.co_firstlineno
    assert problems == [
        f"{__file__}:{line}: test_typo checks 'atention_scores', "
        "which exercises.toml does not list",
        f"{__file__}:{line + 2}: test_zero has weight 0; a weight must be > 0",
        f"exercises.toml: exercise 'context_vector' ({FULL['context_vector']:g} points) has no "
        "check in autograder/hidden/test_simple_attention.py",
    ]


def test_every_exercise_has_several_checks() -> None:
    """Does every exercise have at least two checks, so partial credit is possible?"""
    counts: dict[str, int] = {}
    for c in suite.discover():
        counts[c.exercise] = counts.get(c.exercise, 0) + 1
    assert {ex: n for ex, n in counts.items() if n < 2} == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_gets_full_marks(grader: Grader, seed: int) -> None:
    """Does the reference get every point, whatever the run's seed?"""
    grader.run_seed = seed
    try:
        graded = grader.grade(submission("reference", read_modules(ROOT / "solutions")))
    finally:
        grader.run_seed = RUN_SEED
    assert graded.errors == []
    got = graded.points(IDS)
    assert got == FULL, f"seed {seed}:\n{diff(FULL, got)}\n{failures(graded, set(IDS))}"


def test_stubs_get_nothing(grader: Grader) -> None:
    """Do the untouched stubs score 0 on every exercise, with no grader error?"""
    graded = grader.grade(submission("stubs", read_modules(ROOT / "exercises")))
    assert graded.errors == []
    assert graded.points(IDS) == dict.fromkeys(IDS, 0.0)


def test_corpus_is_graded_as_expected(recorded: Recorded) -> None:
    """Does every corpus entry get exactly its expected points on every exercise?"""
    problems = []
    for entry in corpus():
        graded = recorded.graded[entry.name]
        got = graded.points(IDS)
        internal = [e for e in graded.errors if e.startswith("grader error")]
        if internal:  # the suites' own failures; a student's unimportable file is listed too
            problems.append(f"{entry.name}: grader errors {internal}")
        if got != entry.expected:
            wrong = {ex for ex in IDS if got[ex] != entry.expected[ex]}
            problems.append(
                f"{entry.name} ({entry.description}):\n{diff(entry.expected, got)}\n"
                f"{failures(graded, wrong)}"
            )
    assert not problems, "\n".join(problems)


def test_corpus_covers_mistakes_and_variants() -> None:
    """Does the corpus hold the reference, the stubs and mistakes that each lose something?"""
    entries = {e.name: e for e in corpus()}
    assert entries["reference"].expected == FULL
    assert set(entries["stubs"].expected.values()) == {0.0}
    for name, entry in entries.items():
        if name.startswith("mistake_"):
            assert entry.expected != FULL, f"{name} expects full marks"
        if name.startswith("variant_"):
            lost = corpus_entries.expectations(CORPUS / name).get("points", {})
            assert lost == {}, f"{name} is a correct variant: its [points] stay empty"


def test_feedback_names_each_mistake(recorded: Recorded) -> None:
    """For each exercise a corpus mistake expects a diagnosis for (expected.toml `[diagnosis]`
    and `[feedback_diagnosis]`), does a failed check's message say "Looks like:" and name it?"""
    problems, named = [], 0
    for path in sorted(CORPUS.glob("mistake_*/expected.toml")):
        with open(path, "rb") as f:
            spec = tomllib.load(f)
        graded = recorded.graded[path.parent.name]
        for exercise, phrase in (
            spec.get("diagnosis", {}) | spec.get("feedback_diagnosis", {})
        ).items():
            named += 1
            said = [
                c.message.split("Looks like: ", 1)[1]
                for c in graded.checks
                if c.exercise == exercise
                and c.points < c.max_points
                and "Looks like: " in c.message
            ]
            if not any(phrase in s for s in said):
                shown = failures(graded, {exercise})
                problems.append(f"{path.parent.name}/{exercise}: {phrase!r} not in\n{shown}")
    assert named >= 40, f"only {named} diagnoses expected"
    assert not problems, "\n".join(problems)


def test_hidden_values_stay_hidden(recorded: Recorded) -> None:
    """Does no message of a failed check show an expected value of its random inputs?"""
    number = re.compile(r"-?\d+\.\d{4,}")
    tolerance = re.compile(r"\(tolerance [^)]*\)")
    leaks, scanned = [], 0
    for name, graded in recorded.graded.items():
        for c in graded.checks:
            arrays = recorded.hidden.get(f"{name}/{c.name}")
            if not c.message or not arrays:
                continue
            scanned += 1
            public = tolerance.sub("", c.message)  # the tolerance is printed on every mismatch
            shown = {round(float(m), 4) for m in number.findall(public)}
            values = np.concatenate([a.ravel() for a in arrays])
            secret = {round(float(v), 4) for v in values if np.isfinite(v)} - {0.0, 1.0, -1.0}
            if shown & secret:
                leaks.append(f"{name}/{c.name}: {sorted(shown & secret)[:3]} in {c.message!r}")
    assert scanned > 100, f"only {scanned} failed hidden checks to look at"
    assert not leaks, "\n".join(leaks)


# ---- the worker never holds the reference ----------------------------------------------------

SNOOP = textwrap.dedent(
    f"""
    import sys
    import torch

    def attention_scores(query, inputs):
        secret = ("solutions", "autograder.hidden")
        loaded = [float(name in sys.modules) for name in secret]
        prefixes = tuple(name + "." for name in secret)
        loaded.append(float(any(m.startswith(prefixes) for m in sys.modules)))
        try:
            import solutions.simple_attention  # noqa: F401
            loaded.append(1.0)
        except ImportError:
            loaded.append(0.0)
        try:
            with open({str(ROOT / "solutions" / "simple_attention.py")!r}) as f:
                loaded.append(float(len(f.read()) > 0))
        except OSError:
            loaded.append(0.0)
        return torch.tensor(loaded)
    """
)


SNOOPED = ("solutions loaded", "hidden loaded", "a submodule loaded", "import", "read from disk")


def test_worker_never_holds_the_solutions(grader: Grader) -> None:
    """Can the student's code neither find the reference in its process nor import or read it?"""
    channel = SandboxChannel(grader.zygote, 0, {"simple_attention": SNOOP})
    student = Student(channel, lambda name: ("simple_attention", name))
    try:
        got = student.call("attention_scores", np.zeros(3), np.zeros((2, 3)))
    finally:
        channel.stop()
    assert got.kind == "torch" and got.array is not None
    found = dict(zip(SNOOPED, got.array.tolist(), strict=True))
    if grader.mode == "basic":  # no namespaces: the worker may reach the disk, never our modules
        found = {k: v for k, v in found.items() if "loaded" in k}
    assert found == dict.fromkeys(found, 0.0)


# ---- pytest autograder/hidden --submission DIR ------------------------------------------------


@pytest.mark.slow
def test_pytest_runs_the_hidden_suites_on_a_folder(pytester: pytest.Pytester) -> None:
    """Does `pytest autograder/hidden --submission DIR` fail exactly the mistake's checks?"""
    folder = pytester.path / "submission"
    entry = load_entry(CORPUS / "mistake_no_out_proj")
    (folder / "exercises").mkdir(parents=True)
    for module, text in entry.sources.items():
        (folder / "exercises" / f"{module}.py").write_text(text)
    result = pytester.runpytest_subprocess(
        str(ROOT / "autograder" / "hidden"), "--submission", str(folder), "--seed", "7"
    )
    failed = {
        line.split("::")[1].split(" ")[0]
        for line in result.outlines
        if line.startswith("FAILED ") and "::" in line
    }
    assert failed == {
        "test_mha_eval",
        "test_mha_shorter",
        "test_mha_qkv_bias",
        "test_mha_train_dropout",
        "test_mha_seed_123",
        "test_mha_gradients",
    }, result.stdout.str()[-3000:]
    assert any("run seed 7" in line for line in result.outlines)


def test_autograde_refuses_mismatched_suites_before_grading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Does `attention-kit autograde` stop with the specific problem, naming the check's file
    and line, before it grades (or writes) anything, and without suggesting a resume? (It
    looks while the lanes start: none is left running.)"""
    import multiprocessing

    from autograder import cli

    def test_orphan() -> None: ...

    orphan = suite.check("no_such_exercise", weight=1)(test_orphan).__check__
    real = suite.discover
    monkeypatch.setattr(suite, "discover", lambda modules=None: [*real(modules), orphan])
    (tmp_path / "subs" / "ada" / "exercises").mkdir(parents=True)
    out = tmp_path / "out"
    rc = cli.main(["autograde", "--submissions", str(tmp_path / "subs"), "--out", str(out)])
    err = capsys.readouterr().err
    line = test_orphan.__code__.co_firstlineno
    assert rc == 2
    assert (
        f"error: {__file__}:{line}: test_orphan checks 'no_such_exercise', "
        "which exercises.toml does not list"
    ) in err
    assert "resume" not in err
    assert not (out / "grades.csv").exists() and not (out / "gradebook.sqlite").exists()
    assert multiprocessing.active_children() == []  # the lanes started meanwhile are gone
