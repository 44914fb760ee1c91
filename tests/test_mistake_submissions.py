"""Every catalogued mistake, submitted: the reference with one minimal edit that makes it, graded
by `make check` and by the hidden suites, each message naming that mistake ("Looks like: ...").

The edits live beside the checks that must catch them: MISTAKE_EDITS of each hidden module
(autograder/hidden/test_<module>.py) maps a name to ([(old, new)], {exercise: mistake name});
the mistake names are those of learner/mistakes/ (an exercise that calls another inherits its
mistake). One subprocess runs make check on every submission, one zygote grades them all.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator

import pytest
from test_mistakes import check_each

from autograder import ROOT
from autograder.grading.grader import Grader
from autograder.grading.model import Graded, Submission
from autograder.hidden.helpers import HEADS
from learner import manifest, mistakes
from learner.mistakes import graph

pytestmark = pytest.mark.slow
RUN_SEED = 20262

Edit = tuple[str, list[tuple[str, str]], dict[str, str]]  # (module, [(old, new)], named)


def _edits() -> dict[str, Edit]:
    """Every hidden module's MISTAKE_EDITS, each with its module; a name used twice is refused."""
    out: dict[str, Edit] = {}
    for module in manifest.modules():
        hidden = importlib.import_module(f"autograder.hidden.test_{module}")
        for name, (replacements, named) in getattr(hidden, "MISTAKE_EDITS", {}).items():
            assert name not in out, f"the mistake edit {name!r} is in two hidden modules"
            out[name] = (module, replacements, named)
    return out


EDITS = _edits()


# make check trains no wrapper or MultiHeadAttention with dropout on the values' side: the
# property checks that catch dropout in the wrong place say so in their own words
NOT_IN_CHECK = {
    ("module dropout", "CausalAttention"),
    ("module dropout", HEADS),
    ("mha dropout context", "MultiHeadAttention"),
    ("mha dropout output", "MultiHeadAttention"),
}


def sentences(exercise: str, name: str) -> list[str]:
    """What naming that mistake says: its sentence, and the one for the error it raises."""
    m = next(m for m in [*mistakes.mistakes_of(exercise), *graph.MISTAKES] if m.name == name)
    return [m.says, *([m.error_says] if m.error_says else [])]


def sources(edit: str) -> dict[str, str]:
    module, replacements, _ = EDITS[edit]
    out = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
    for old, new in replacements:
        assert out[module].count(old) == 1, f"{edit}: {old!r} is not once in {module}"
        out[module] = out[module].replace(old, new)
    return out


def test_every_catalogued_mistake_is_submitted() -> None:
    """Is every mistake of the catalogue made by one of the submissions below?"""
    submitted = {(ex, name) for _, _, named in EDITS.values() for ex, name in named.items()}
    catalogued = {(ex, m.name) for ex, listed in mistakes.catalogue().items() for m in listed}
    by_behaviour = {m.name for m in graph.MISTAKES}  # any torch exercise can make these
    assert catalogued - submitted == set()
    assert {(ex, n) for ex, n in submitted if n not in by_behaviour} - catalogued == set()
    assert by_behaviour - {n for _, n in submitted} == set()


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """make check EX=<exercise> on each submission, for each exercise it must name a mistake in."""
    tmp = tmp_path_factory.mktemp("submitted")
    work = {}
    for i, edit in enumerate(EDITS):
        ws = tmp / f"s{i:03d}"
        (ws / "exercises").mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "__init__.py", ws / "exercises" / "__init__.py")
        for module, text in sources(edit).items():
            (ws / "exercises" / f"{module}.py").write_text(text)
        named = [ex for ex in EDITS[edit][2] if (edit, ex) not in NOT_IN_CHECK]
        work[edit] = (str(ws), named)
    return check_each(work, timeout=900)


@pytest.fixture(scope="module")
def graded() -> Iterator[dict[str, Graded]]:
    """Every submission graded by the hidden suites, in one zygote."""
    out = {}
    with Grader(run_seed=RUN_SEED, timeout=3.0) as grader:
        for edit in EDITS:
            sub = Submission(student=edit, origin=ROOT, sources=sources(edit), digest=edit)
            out[edit] = grader.grade(sub)
    yield out


@pytest.mark.parametrize("edit", list(EDITS))
def test_make_check_names_it(edit: str, checked: dict[str, str]) -> None:
    """Does make check, on the exercise the mistake is in, end its message with that mistake?"""
    for exercise, name in EDITS[edit][2].items():
        if (edit, exercise) in NOT_IN_CHECK:
            continue
        detail = checked[f"{edit}:{exercise}"].split("Progress:")[1]
        said = [f"Looks like: {s}" for s in sentences(exercise, name)]
        assert any(s in detail for s in said), f"{exercise}:\n{detail}"


@pytest.mark.parametrize("edit", list(EDITS))
def test_feedback_names_it(edit: str, graded: dict[str, Graded]) -> None:
    """Does a failed hidden check of each exercise the mistake is in name it in the feedback?"""
    result = graded[edit]
    for exercise, name in EDITS[edit][2].items():
        said = [f"Looks like: {s}" for s in sentences(exercise, name)]
        messages = [
            c.message for c in result.checks if c.exercise == exercise and c.points < c.max_points
        ]
        assert any(s in m for s in said for m in messages), f"{exercise}: {said} not in {messages}"
