"""The instructor's whole nbgrader flow, headless: the real nbgrader CLI, a real gradebook.db.

A course folder made as `make nbgrader` makes it (in tmp_path), `nbgrader generate_assignment`,
then a class in submitted/<student>/attention/: the reference, the released stubs, three typical
mistakes from tests/corpus/ (each handing in only the notebooks it touches) and a hostile notebook
that patches torch's and numpy's comparisons and the kit's hidden call in an earlier cell. Then
`nbgrader autograde`, `generate_feedback` and `export`; the same notebooks go through
`attention-kit autograde` with the same seed, and both must give the same points, exercise by
exercise. Jupyter's runtime, data and config folders and IPython's are temp folders.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_autograde_cli import autograde

from autograder import ROOT
from autograder.notebooks import build, course, grade, write_student
from learner import manifest
from tests import corpus_entries

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow

SEED = 20261124
STEP_TIMEOUT = 900  # seconds for one nbgrader command on the whole class
CORPUS = ROOT / "tests" / "corpus"
EXERCISES = manifest.load()
IDS = [e.id for e in EXERCISES]
MAX = {e.id: e.points for e in EXERCISES}
MISTAKES = {  # corpus entry -> the notebooks that student hands in
    "mistake_softmax_dim0": ["simple_attention"],
    "mistake_scale_by_dk": ["trainable_attention"],
    "mistake_mask_diagonal": ["causal_attention", "multihead_attention"],
}
FAKED = "faked full marks"  # what the hostile notebook's patched hidden call prints

HOSTILE_CELL = f"""\
import importlib
import numpy
import torch

# earlier cell: every comparison says equal, and the kit's hidden call says nothing (full marks)
torch.allclose = lambda *args, **kwargs: True
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
importlib.import_module("autograder.notebooks.kernel").hidden_points = lambda ex: print("{FAKED}")
check = lambda *args, **kwargs: None  # and the visible checks (make check's tests) check nothing
"""
HOSTILE_ANSWER = '''\
def attention_scores(query, inputs):
    """Returns zeros: the patched comparisons would call it right."""
    return torch.zeros(inputs.shape[0])
'''

# An added cell that extraction drops (it is not a top-level def) but the kernel runs: it
# overwrites another student's submitted notebook with the released stubs, before that student's
# turn comes (nbgrader autogrades students in order of their ids)
REWRITER, VICTIM = "a_rewriter", "z_victim"
REWRITE_CELL = f"""\
if True:
    import pathlib

    here = pathlib.Path.cwd().resolve()
    for top in [here, *here.parents]:
        victim = top / "submitted" / "{VICTIM}" / "attention" / "simple_attention.ipynb"
        if victim.is_file():
            stubs = top / "release" / "attention" / "simple_attention.ipynb"
            victim.write_bytes(stubs.read_bytes())
            break
"""

# Per-exercise scores from nbgrader's gradebook: {student: {grade_id: score}}
READ_GRADEBOOK = """
import json, sys
from nbgrader.api import Gradebook
out = {}
with Gradebook(sys.argv[1]) as gb:
    for student in gb.students:
        scores = out.setdefault(student.id, {})
        for nb in gb.find_assignment("attention").notebooks:
            sub = gb.find_submission_notebook(nb.name, "attention", student.id)
            for grade in sub.grades:
                scores[grade.name] = grade.score
print(json.dumps(out))
"""


def notebook_with(module: str, source: str | None = None) -> dict[str, Any]:
    """The reference notebook of `module`, its answer cells replaced by the top-level definitions
    of the same name in `source` (a corpus module); its other definitions go into a cell of
    their own, as a student would add one."""
    nb = build.source_notebook(module)
    if source is None:
        return nb
    lines = source.splitlines()
    defs: dict[str, str] = {}
    extra: list[str] = []
    for node in ast.parse(source).body:
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in MAX:
            defs[node.name] = text
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            extra.append(text)
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("solution") and grade_id in defs:
            cell["source"] = defs[grade_id]
    if extra:
        at = next(i for i, c in enumerate(nb["cells"]) if c["id"] == build.DATA_ID) + 1
        nb["cells"].insert(at, build.new_cell("code", "\n\n\n".join(extra), "helpers"))
    return nb


BROKEN_CELL = "broken_cell"  # the reference's trainable notebook, one answer cell not parsing


def broken_cell() -> tuple[dict[str, Any], int]:
    """The reference trainable_attention notebook with SelfAttention_v2's answer cell not
    parsing, and that cell's number (as the kit counts cells, from 1)."""
    nb = notebook_with("trainable_attention")
    for n, cell in enumerate(nb["cells"], start=1):
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "SelfAttention_v2":
            cell["source"] = "class SelfAttention_v2(nn.Module:\n    pass\n"
            return nb, n
    raise AssertionError("no SelfAttention_v2 answer cell")


def hostile() -> dict[str, Any]:
    nb = notebook_with("simple_attention")
    at = next(i for i, c in enumerate(nb["cells"]) if c["id"] == build.DATA_ID) + 1
    nb["cells"].insert(at, build.new_cell("code", HOSTILE_CELL, "patches"))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "attention_scores":
            cell["source"] = HOSTILE_ANSWER
    return nb


def rewriter() -> dict[str, Any]:
    nb = notebook_with("simple_attention")
    at = next(i for i, c in enumerate(nb["cells"]) if c["id"] == build.DATA_ID) + 1
    nb["cells"].insert(at, build.new_cell("code", REWRITE_CELL, "tidy-up"))
    return nb


def expected_points(entry: str, modules: list[str]) -> dict[str, float]:
    """The corpus entry's expected points, for a student handing in only `modules`."""
    with open(CORPUS / entry / "expected.toml", "rb") as f:
        lost = tomllib.load(f)["points"]
    return {e.id: lost.get(e.id, e.points) if e.module in modules else 0.0 for e in EXERCISES}


def env(tmp: Path) -> dict[str, str]:
    """Our environment with Jupyter's and IPython's folders in `tmp` and the venv first on PATH."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        folder = tmp / "jupyter" / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        base[name] = str(folder)
    return course.nbgrader_env(base)


def nbgrader(course_dir: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course_dir,
        env=env(tmp),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert proc.returncode == 0, f"nbgrader {args[0]}: {proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("nbgrader")
    course_dir = tmp / "course"
    course.write_course(course_dir, SEED)
    nbgrader(course_dir, tmp, "generate_assignment", course.ASSIGNMENT)
    release = course_dir / "release" / course.ASSIGNMENT

    students: dict[str, dict[str, str]] = {  # student -> {file name: notebook JSON}
        "reference": {f"{m}.ipynb": build.dumps(notebook_with(m)) for m in manifest.modules()},
        "stubs": {p.name: p.read_text(encoding="utf-8") for p in release.glob("*.ipynb")},
        "hostile": {"simple_attention.ipynb": build.dumps(hostile())},
        REWRITER: {"simple_attention.ipynb": build.dumps(rewriter())},
        VICTIM: {"simple_attention.ipynb": build.dumps(notebook_with("simple_attention"))},
        BROKEN_CELL: {"trainable_attention.ipynb": build.dumps(broken_cell()[0])},
    }
    for entry, modules in MISTAKES.items():
        students[entry] = {}
        for m in modules:
            source = corpus_entries.own_sources(CORPUS / entry).get(m)
            students[entry][f"{m}.ipynb"] = build.dumps(notebook_with(m, source))
    kit_subs = tmp / "kit_submissions"
    for student, files in students.items():
        for folder in (course_dir / "submitted" / student / course.ASSIGNMENT, kit_subs / student):
            folder.mkdir(parents=True)
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")

    nbgrader(course_dir, tmp, "autograde", course.ASSIGNMENT)
    nbgrader(course_dir, tmp, "generate_feedback", course.ASSIGNMENT)
    nbgrader(course_dir, tmp, "export", "--to", str(tmp / "nbgrader_grades.csv"))
    db = f"sqlite:///{course_dir / 'gradebook.db'}"
    read = subprocess.run(
        [sys.executable, "-c", READ_GRADEBOOK, db],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    by_cell = json.loads(read.stdout)

    kit = autograde(kit_subs, tmp / "kit_out", seed=SEED, timeout=STEP_TIMEOUT)
    assert kit.returncode == 0, kit.stderr[-3000:]
    with open(tmp / "nbgrader_grades.csv", newline="") as f:
        totals = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}
    return {
        "course": course_dir,
        "release": release,
        "students": sorted(students),
        "nbgrader": {
            s: {e: cells.get(f"{e}_tests", 0.0) for e in IDS} for s, cells in by_cell.items()
        },
        "nbgrader_totals": totals,
        "kit": json.loads((tmp / "kit_out" / "grades.json").read_text())["students"],
        "tmp": tmp,
        "handed_in": students,
    }


def test_release_is_what_write_student_writes(roundtrip: dict[str, Any], tmp_path: Path) -> None:
    """Are the notebooks nbgrader released, cell by cell, the ones write_student writes without
    nbgrader (so the student path needs no nbgrader)?"""
    ours = {p.name: p for p in write_student(tmp_path / "ours")}
    theirs = {p.name: p for p in roundtrip["release"].glob("*.ipynb")}
    assert sorted(ours) == sorted(theirs)

    def sources(path: Path) -> list[tuple[str, str]]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [(c["cell_type"], "".join(c["source"])) for c in cells]

    for name in ours:
        assert sources(ours[name]) == sources(theirs[name]), name


def test_every_student_is_in_the_gradebook(roundtrip: dict[str, Any]) -> None:
    """Did nbgrader autograde every student, with a score for every test cell, and write
    feedback for each?"""
    assert sorted(roundtrip["nbgrader"]) == roundtrip["students"]
    assert sorted(roundtrip["kit"]) == roundtrip["students"]
    for student in roundtrip["students"]:
        feedback = roundtrip["course"] / "feedback" / student / course.ASSIGNMENT
        assert sorted(p.name for p in feedback.glob("*.html")), student


@pytest.mark.parametrize(
    "student",
    ["reference", "stubs", "hostile", REWRITER, VICTIM, BROKEN_CELL, *MISTAKES],
    ids=lambda s: str(s),
)
def test_nbgrader_gives_what_autograde_gives(roundtrip: dict[str, Any], student: str) -> None:
    """Does every exercise get the same points from nbgrader's hidden tests as from
    `attention-kit autograde`, and the same total in nbgrader's export?"""
    ours = roundtrip["kit"][student]["points"]
    assert roundtrip["nbgrader"][student] == ours
    assert roundtrip["nbgrader_totals"][student] == pytest.approx(sum(ours.values()))
    assert roundtrip["kit"][student]["total"] == pytest.approx(sum(ours.values()))


def test_points_are_what_each_student_earned(roundtrip: dict[str, Any]) -> None:
    """Measured against the corpus, not against either road: full marks for the reference, none
    for the stubs, the corpus entries' points for each mistake (partial credit included)?"""
    got = roundtrip["nbgrader"]
    assert got["reference"] == MAX
    assert got["stubs"] == dict.fromkeys(IDS, 0.0)
    for entry, modules in MISTAKES.items():
        assert got[entry] == expected_points(entry, modules), entry
    partial = got["mistake_mask_diagonal"]["CausalAttention"]
    assert 0 < partial < MAX["CausalAttention"]


def test_hostile_notebook_fools_its_kernel_but_not_the_grade(roundtrip: dict[str, Any]) -> None:
    """Did the patched hidden call run in the kernel (its text is in the graded notebook), and
    still attention_scores scores 0 while the honest exercises keep their points?"""
    graded = roundtrip["course"] / "autograded" / "hostile" / course.ASSIGNMENT
    cells = json.loads((graded / "simple_attention.ipynb").read_text(encoding="utf-8"))["cells"]
    tests = next(
        c
        for c in cells
        if c["metadata"]
        .get("nbgrader", {})
        .get("grade_id", "")
        .startswith("attention_scores_tests")
    )
    printed = "".join("".join(o.get("text", "")) for o in tests["outputs"])
    assert FAKED in printed
    assert f"Hidden tests: 0/{MAX['attention_scores']:g} points" in printed
    got = roundtrip["nbgrader"]["hostile"]
    assert got["attention_scores"] == 0
    # the softmax exercises follow the off-limits policy (the patching cell imports importlib,
    # which the evasion scan forfeits them for): the same on both roads, checked above
    policy = {"softmax_naive", "softmax_stable"}
    for e in EXERCISES:
        if e.module == "simple_attention" and e.id not in policy | {"attention_scores"}:
            assert got[e.id] == MAX[e.id], e.id
        elif e.module != "simple_attention":
            assert got[e.id] == 0, e.id


def test_a_kernel_rewriting_another_notebook_changes_no_grade(roundtrip: dict[str, Any]) -> None:
    """A student's added cell, wrapped in `if True:` (so extraction drops it and the kernel runs
    it), overwrote another student's submitted notebook with the stubs before that student's turn:
    is the victim still graded from the notebook as handed in (full marks, as on the kit's own
    road), told in their test cells that the file changed, and the attacker graded as usual?"""
    course_dir = roundtrip["course"]
    submitted = course_dir / "submitted" / VICTIM / course.ASSIGNMENT / "simple_attention.ipynb"
    released = roundtrip["release"] / "simple_attention.ipynb"
    assert submitted.read_bytes() == released.read_bytes(), "the rewrite did not happen"
    simple = {e.id: MAX[e.id] if e.module == "simple_attention" else 0.0 for e in EXERCISES}
    assert roundtrip["nbgrader"][VICTIM] == simple
    assert roundtrip["nbgrader"][REWRITER] == simple
    assert roundtrip["kit"][VICTIM]["points"] == simple
    graded = course_dir / "autograded" / VICTIM / course.ASSIGNMENT / "simple_attention.ipynb"
    cells = json.loads(graded.read_text(encoding="utf-8"))["cells"]
    tests = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    assert tests
    for cell in tests:
        printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
        assert "your submitted notebooks changed after they were handed in" in printed
    mine = course_dir / "autograded" / REWRITER / course.ASSIGNMENT / "simple_attention.ipynb"
    assert "changed after they were handed in" not in mine.read_text(encoding="utf-8")


def test_test_cells_say_what_the_grader_found(roundtrip: dict[str, Any]) -> None:
    """Does a lost exercise's test cell, in the notebook nbgrader graded (and its feedback), show
    the grader's points and what its checks found, with the points as the cell's result?"""
    graded = roundtrip["course"] / "autograded" / "mistake_softmax_dim0" / course.ASSIGNMENT
    cells = json.loads((graded / "simple_attention.ipynb").read_text(encoding="utf-8"))["cells"]
    tests = next(
        c
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "all_attention_weights_tests"
    )
    kinds = [o["output_type"] for o in tests["outputs"]]
    assert kinds[-1] == "execute_result"
    assert "".join(tests["outputs"][-1]["data"]["text/plain"]) == "0"
    printed = "".join("".join(o.get("text", "")) for o in tests["outputs"][:-1])
    lost = f"Hidden tests: 0/{MAX['all_attention_weights']:g} points"
    assert lost in printed
    assert "all_attention_weights" in printed and "entries differ" in printed
    feedback = roundtrip["course"] / "feedback" / "mistake_softmax_dim0" / course.ASSIGNMENT
    assert lost in (feedback / "simple_attention.html").read_text()


def test_a_cell_that_does_not_parse_costs_only_its_exercise(roundtrip: dict[str, Any]) -> None:
    """One answer cell that does not parse: does only its exercise score 0 (the rest of that
    notebook full marks, as with nbgrader's own cell-by-cell grading), its test cell and its
    feedback naming the cell, and the kit's error line saying the same?"""
    handed_in = {e.id: MAX[e.id] for e in EXERCISES if e.module == "trainable_attention"}
    assert roundtrip["nbgrader"][BROKEN_CELL] == {
        **dict.fromkeys(IDS, 0.0),
        **handed_in,
        "SelfAttention_v2": 0.0,
    }
    n = broken_cell()[1]
    said = f"trainable_attention.ipynb: cell {n} (SelfAttention_v2) does not parse (line 1 of"
    feedback = roundtrip["course"] / "feedback" / BROKEN_CELL / course.ASSIGNMENT
    assert said in (feedback / "trainable_attention.html").read_text(), said
    errors = roundtrip["kit"][BROKEN_CELL]["errors"]
    assert any(e.startswith(said) for e in errors), errors
    assert not any("exercises/trainable_attention.py" in e for e in errors), errors


def test_visible_checks_ran_in_the_kernel(roundtrip: dict[str, Any]) -> None:
    """In nbgrader's kernel, did the reference's notebooks run top to bottom with every visible
    check passing (CausalAttention read from the causal notebook too), and every stub's test cell
    fail its visible checks with NotImplementedError?"""
    for student, expect_failed in (("reference", False), ("stubs", True)):
        graded = roundtrip["course"] / "autograded" / student / course.ASSIGNMENT
        for module in manifest.modules():
            cells = json.loads((graded / f"{module}.ipynb").read_text(encoding="utf-8"))["cells"]
            for cell in cells:
                if not cell["metadata"].get("nbgrader", {}).get("grade"):
                    continue
                printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
                failed = "Visible check failed: NotImplementedError" in printed
                assert failed == expect_failed, (student, module, printed)
                if not expect_failed:
                    assert "Visible check failed" not in printed, (module, printed)


def test_a_second_autograde_changes_nothing(roundtrip: dict[str, Any]) -> None:
    """Does running nbgrader autograde again (--force, one student) leave that student's
    grades as they were?"""
    course_dir, tmp = roundtrip["course"], roundtrip["tmp"]
    nbgrader(course_dir, tmp, "autograde", course.ASSIGNMENT, "--force", "--student", "hostile")
    read = subprocess.run(
        [sys.executable, "-c", READ_GRADEBOOK, f"sqlite:///{course_dir / 'gradebook.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    again = json.loads(read.stdout)["hostile"]
    assert {e: again.get(f"{e}_tests", 0.0) for e in IDS} == roundtrip["nbgrader"]["hostile"]


def snapshot_rows(course_dir: Path) -> dict[str, str]:
    """student -> the sha256 recorded in gradebook.db for their hand-in of the assignment."""
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        rows = db.execute(
            "SELECT student, sha256 FROM attention_kit_snapshots WHERE assignment = ?",
            (course.ASSIGNMENT,),
        ).fetchall()
    return dict(rows)


def test_hashes_of_the_hand_ins_are_in_the_gradebook(roundtrip: dict[str, Any]) -> None:
    """Is every student's hand-in recorded in gradebook.db with the sha256 of the notebooks as
    handed in (the victim's too, though its file was rewritten afterwards)?"""
    rows = snapshot_rows(roundtrip["course"])
    assert sorted(rows) == roundtrip["students"]
    for student, files in roundtrip["handed_in"].items():
        notebooks = {name.removesuffix(".ipynb"): text.encode() for name, text in files.items()}
        assert rows[student] == grade.snapshot_digest(notebooks), student


def test_a_later_run_says_a_rewritten_hand_in_changed(roundtrip: dict[str, Any]) -> None:
    """When the victim's rewritten notebook is autograded again (--force), does nbgrader's log
    name both hashes and do the victim's test cells say the notebooks are not the ones first
    graded, the recorded hash left as it was?"""
    course_dir, tmp = roundtrip["course"], roundtrip["tmp"]
    before = snapshot_rows(course_dir)
    proc = nbgrader(course_dir, tmp, "autograde", course.ASSIGNMENT, "--force", "--student", VICTIM)
    assert f"{VICTIM}'s hand-in was first graded from sha256 {before[VICTIM]}" in proc.stderr
    graded = course_dir / "autograded" / VICTIM / course.ASSIGNMENT / "simple_attention.ipynb"
    assert "are not the ones first graded for this hand-in" in graded.read_text(encoding="utf-8")
    assert snapshot_rows(course_dir) == before
