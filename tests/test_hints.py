"""The Hint: line of `make check` fits the failure: a hint in exercises.toml may say which
mistakes (learner/mistakes/) and which public tests it answers."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from test_mistakes import check_each

from autograder import ROOT
from learner import manifest, mistakes
from learner.manifest import Exercise

PUBLIC = ROOT / "learner" / "public"


def _exercise(hints: tuple[str, ...], answers: tuple[tuple[str, ...], ...]) -> Exercise:
    return Exercise("x", "m", "t", 1.0, "", (), "todo", hints, answers)


def test_the_hint_answering_the_mistake_comes_first() -> None:
    """A diagnosed mistake picks its hint, before one answering the test; a test picks its
    own (parameters aside); anything else gets the first hint that answers nothing."""
    ex = _exercise(
        ("general", "for the test", "for the mistake", "also general"),
        ((), ("test_big",), ("no shift",), ()),
    )
    assert ex.hint_for("test_big", ("no shift",)) == "for the mistake"
    assert ex.hint_for("test_big[3]") == "for the test"
    assert ex.hint_for("test_other", ("unknown",)) == "general"
    assert ex.hint_for("") == "general"
    only_tagged = _exercise(("a", "b"), (("m1",), ("m2",)))
    assert only_tagged.hint_for("test_x") == "a"
    assert only_tagged.hint_for("test_x", ("m2",)) == "b"
    assert _exercise((), ()).hint_for("test_x") is None


def test_a_malformed_hint_is_refused(tmp_path: Path) -> None:
    """A hint that is neither a string nor a table with a text: a clear error."""
    bad = tmp_path / "exercises.toml"
    bad.write_text(
        '[[exercise]]\nid = "a"\nmodule = "m"\ntitle = "t"\npoints = 1\nsource = "s"\n'
        'todo = "t"\nhints = [{ answers = ["x"] }]\n'
    )
    with pytest.raises(ValueError, match="a hint is a string or"):
        manifest.load(bad)


def _public_tests() -> dict[str, set[str]]:
    """exercise id -> the names of the public test functions marked with it."""
    out: dict[str, set[str]] = {}
    for path in PUBLIC.glob("test_*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "attr", "") == "exercise"
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    out.setdefault(deco.args[0].value, set()).add(node.name)
    return out


def test_every_answer_names_a_mistake_or_a_test_of_its_exercise() -> None:
    """Is every `answers` entry a catalogued mistake or a public test of that exercise (a typo
    would silently never pick its hint)?"""
    tests = _public_tests()
    unknown = []
    for e in manifest.load():
        known = {m.name for m in mistakes.mistakes_of(e.id)} | tests.get(e.id, set())
        unknown += [f"{e.id}: {a}" for answers in e.answers for a in answers if a not in known]
    assert unknown == []


def test_named_in_finds_the_mistakes_of_a_message() -> None:
    """Does a message's Looks like: line give back the mistake's name, and the shared error
    sentence both mistakes that raise it?"""
    says = next(m.says for m in mistakes.mistakes_of("softmax_rows") if m.name == "no shift")
    assert mistakes.named_in("softmax_rows", f"...\n  Looks like: {says}") == ("no shift",)
    shared = next(m for m in mistakes.mistakes_of("softmax_stable") if m.error_says).error_says
    assert set(mistakes.named_in("softmax_stable", shared)) == {"no keepdim", "max no keepdim"}
    assert mistakes.named_in("softmax_rows", "no diagnosis here") == ()


# (exercise, module, old line, new line, a phrase the hint must hold, one it must not)
WRONG = {
    "rows overflow": (
        "softmax_rows",
        "numpy_attention",
        "    shifted = scores - scores.max(axis=1, keepdims=True)",
        "    shifted = scores",
        "scores.max(axis=1, keepdims=True) first",
        "np.exp(scores) / np.sum",
    ),
    "causal columns": (
        "CausalAttention",
        "causal_attention",
        "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)",
        "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-2)",
        "Softmax along dim=-1",
        "register_buffer",
    ),
    "stable max no keepdim": (
        "softmax_stable",
        "simple_attention",
        "    shifted = x - x.amax(dim=dim, keepdim=True)",
        "    shifted = x - x.max(dim=dim).values",
        "keepdim=True",
        "any constant c",
    ),
}


@pytest.mark.slow
def test_make_check_shows_the_hint_that_fits(tmp_path: Path) -> None:
    """make check EX=<exercise> on one wrong line: is the Hint: line the one for that mistake
    (the overflow hint for an overflow, not the formula; the softmax's dim in CausalAttention,
    not register_buffer)?"""
    work = {}
    for name, (exercise, module, old, new, _, _) in WRONG.items():
        target = tmp_path / name.replace(" ", "_") / "exercises"
        target.mkdir(parents=True)
        for path in (ROOT / "solutions").glob("*.py"):
            shutil.copy(path, target / path.name)
        source = (target / f"{module}.py").read_text()
        assert source.count(old) == 1, old
        (target / f"{module}.py").write_text(source.replace(old, new))
        work[name] = (str(target.parent), [exercise])
    out = check_each(work, timeout=600)
    for name, (exercise, _, _, _, fits, misfits) in WRONG.items():
        hint = next(
            line for line in out[f"{name}:{exercise}"].splitlines() if line.startswith("Hint: ")
        )
        assert fits in hint and misfits not in hint, f"{name}: {hint}"


def test_the_feedback_shows_the_hint_that_fits() -> None:
    """In a student's feedback, does an exercise whose failed check names the overflow mistake
    get the overflow hint, and one with no diagnosis the first general hint?"""
    from autograder.grading import report
    from autograder.grading.model import CheckResult

    rows = manifest.by_id()["softmax_rows"]
    says = next(m.says for m in mistakes.mistakes_of("softmax_rows") if m.name == "no shift")
    overflow = CheckResult("softmax_rows", "test_x", 2.0, 0.0, f"got nan\nLooks like: {says}")
    text = "\n".join(report._lost_section(rows, 0.0, [overflow], []))
    assert "Hint: Subtract scores.max(axis=1, keepdims=True) first" in text, text
    stable = manifest.by_id()["softmax_stable"]
    plain = CheckResult("softmax_stable", "test_y", 2.0, 0.0, "got nan at [0, 1], expected 0.5")
    text = "\n".join(report._lost_section(stable, 0.0, [plain], []))
    assert f"Hint: {stable.hints[0]}" in text, text


def test_a_cut_graph_gets_the_autograd_hint_not_the_exercises() -> None:
    """A failure naming a graph mistake gets the autograd hint; one naming the exercise's own
    mistake keeps the manifest's hint for it."""
    from learner.mistakes import graph

    e = manifest.by_id()["softmax_stable"]
    cut = f"no gradient reaches x\n  Looks like: {graph.DETACHED.says}"
    assert mistakes.hint_for(e, "test_function_gradients", cut) == graph.HINT
    own = next(m for m in mistakes.mistakes_of("softmax_stable") if m.name == "ignores dim")
    said = f"...\n  Looks like: {own.says}"
    assert mistakes.hint_for(e, "", said) == e.hint_for("", ("ignores dim",))
    assert mistakes.hint_for(e, "", said) != graph.HINT
