"""Is every exercise complete? One test per step of README's "Adding or changing an exercise",
each failure naming the step that is missing and the exercise it is missing for.

What other tests already check is reused, not repeated: the stubs' and the sample class's
staleness are their builders' own `--check`; hidden checks adding up to the points are in
tests/test_hidden_suites.py.
"""

from __future__ import annotations

import ast
import inspect

import pytest
from test_mistakes import _reference, function_cases

from autograder import ROOT, stubs
from autograder.grading import suite
from autograder.notebooks import build, content
from examples import build_class
from learner import examples, manifest, mistakes

PUBLIC = ROOT / "learner" / "public"


def _public_marks(module: str) -> set[str]:
    """The exercise ids of @pytest.mark.exercise("id") in a module's public test file."""
    path = PUBLIC / f"test_{module}.py"
    if not path.exists():
        return set()
    ids = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "pytest.mark.exercise"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            ids.add(node.args[0].value)
    return ids


def test_step_stubs_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    """Step: `make exercises` after changing a solution or the manifest."""
    assert stubs.main(["--check"]) == 0, capsys.readouterr().err


def test_step_public_test_for_every_exercise() -> None:
    """Step: a worked example in the exercise's docstring (make check runs it), or a public test
    marked @pytest.mark.exercise("<id>") in the module's public file."""
    missing = [
        f"{ex.id}: no worked example (>>>) in its docstring and no public test marked "
        f"exercise({ex.id!r}) in learner/public/test_{ex.module}.py (step: add one)"
        for ex in manifest.load()
        if ex.id not in _public_marks(ex.module) and not _documented(ex)
    ]
    assert missing == []


def _documented(ex: manifest.Exercise) -> bool:
    source = (ROOT / "solutions" / f"{ex.module}.py").read_text(encoding="utf-8")
    return bool(examples.of_source(source, ex.id))


def test_step_two_hidden_checks_for_every_exercise() -> None:
    """Step: at least two hidden checks (partial credit), whatever the exercise's points."""
    counts = {ex.id: 0 for ex in manifest.load()}
    for check in suite.discover():
        counts[check.exercise] = counts.get(check.exercise, 0) + 1
    missing = [
        f"{ex}: {n} hidden check(s) in autograder/hidden/, at least 2 needed "
        "(step: add hidden checks)"
        for ex, n in counts.items()
        if n < 2
    ]
    assert missing == []


def test_step_mistake_cases_for_function_exercises() -> None:
    """Step: a function exercise with catalogued mistakes has a case in test_mistakes'
    function_cases, its docstring's worked example or an explicit one (a class's cases are its
    MODULES rows)."""
    cased = {case.exercise for case in function_cases()}
    missing = [
        f"{ex}: catalogued mistakes but no case to show them on (step: a worked example in "
        "its docstring, or a case in tests/test_mistakes.py's _FUNCTION_CASES)"
        for ex in mistakes.catalogue()
        if inspect.isfunction(_reference(ex)) and ex not in cased
    ]
    assert missing == []


def test_step_sample_class_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """Step: `make class` after changing the solutions or stubs the sample students start from."""
    assert build_class.main(["--check"]) == 0, capsys.readouterr().err


def test_an_exercise_without_notebook_text_gets_its_todo() -> None:
    """No step needed for the notebooks: an exercise content.py has no words for yet gets a
    section made of its manifest todo, with no example."""
    text, example = content.exercise_text("brand_new_exercise", "return the rows' entropy")
    assert "return the rows' entropy" in text and example == ""
    ex = manifest.load()[0]
    assert content.exercise_text(ex.id, ex.todo) == content.EXERCISES[ex.id]


def test_a_notebook_builds_for_an_exercise_without_notebook_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The student notebook of a module whose exercise has no entry in content.EXERCISES is
    built (no KeyError), with the todo as that exercise's text."""
    ex = manifest.load()[0]
    entries = {k: v for k, v in content.EXERCISES.items() if k != ex.id}
    monkeypatch.setattr(content, "EXERCISES", entries)
    cells = build.student_notebook(ex.module)["cells"]
    texts = ["".join(c["source"]) for c in cells if c.get("id") == f"{ex.id}-text"]
    assert len(texts) == 1 and f"Your task: {ex.todo}." in texts[0]
