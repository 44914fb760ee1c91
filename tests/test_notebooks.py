"""The notebooks generated from the single source, and turning a handed-in notebook into a module.

The notebooks run in a real Python subprocess, cell by cell in notebook order (hidden blocks left
out: they need a grading run), from the folder they were written to.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.notebooks import build, write_source, write_student
from autograder.notebooks.extract import extract, relabel
from learner import manifest

MODULES = manifest.modules()

# Runs every code cell of each notebook in order; prints, per notebook, the cells that raised.
RUNNER = """
import json, sys
from autograder.notebooks.build import clear_hidden_tests
failed = {}
for name in sys.argv[1:]:
    ns, bad = {"__name__": "__main__"}, []
    for cell in json.load(open(name + ".ipynb"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            exec(compile(clear_hidden_tests("".join(cell["source"])), cell["id"], "exec"), ns)
        except BaseException as e:
            bad.append([cell["id"], type(e).__name__])
    failed[name] = bad
print(json.dumps(failed))
"""


def run_cells(folder: Path) -> dict[str, list[list[str]]]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *MODULES],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def nbgrader_meta(cell: dict) -> dict:
    return cell["metadata"].get("nbgrader", {})


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("notebooks")
    write_source(base / "source")
    write_student(base / "release")
    return base / "source", base / "release"


def test_one_notebook_per_topic(notebooks: tuple[Path, Path]) -> None:
    """Is there one notebook per module of exercises.toml, in both folders?"""
    for folder in notebooks:
        assert sorted(p.stem for p in folder.glob("*.ipynb")) == sorted(MODULES)


def test_cells_carry_nbgrader_metadata(notebooks: tuple[Path, Path]) -> None:
    """Does every exercise have one answer cell (grade_id = its id) and one test cell worth its
    manifest points, with schema_version 3, and do the points add up to 100?"""
    source, _ = notebooks
    answers, tests = {}, {}
    for module in MODULES:
        for cell in cells(source / f"{module}.ipynb"):
            meta = nbgrader_meta(cell)
            if not meta:
                continue
            assert meta["schema_version"] == 3
            assert {"grade", "solution", "locked", "grade_id"} <= set(meta)
            if meta["solution"]:
                assert not meta["grade"] and not meta["locked"]
                answers[meta["grade_id"]] = module
            if meta["grade"]:
                assert meta["locked"] and not meta["solution"]
                tests[meta["grade_id"]] = meta["points"]
    exercises = manifest.load()
    assert answers == {e.id: e.module for e in exercises}
    assert tests == {f"{e.id}_tests": e.points for e in exercises}
    assert sum(tests.values()) == sum(e.points for e in exercises)


def test_reference_notebooks_pass_their_visible_checks(notebooks: tuple[Path, Path]) -> None:
    """Run top to bottom with the solutions, does every cell (examples, checks, the import of
    CausalAttention from the causal notebook) run without an error?"""
    source, _ = notebooks
    assert run_cells(source) == {m: [] for m in MODULES}


def test_student_notebooks_fail_only_their_checks(notebooks: tuple[Path, Path]) -> None:
    """In the released notebooks, does every exercise's test cell fail (NotImplementedError) while
    the setup, data and example cells run?"""
    _, release = notebooks
    failed = run_cells(release)
    for module in MODULES:
        ids = [e.id for e in manifest.load() if e.module == module]
        assert failed[module] == [[f"{i}-tests", "NotImplementedError"] for i in ids]


def test_student_notebooks_hold_no_solution_and_no_hidden_test(
    notebooks: tuple[Path, Path],
) -> None:
    """Do the released answer cells keep the docstring and a TODO but no solution code, and the
    test cells no hidden block?"""
    _, release = notebooks
    for module in MODULES:
        text = (release / f"{module}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "HIDDEN" not in text
        assert "hidden_points" not in text
        for cell in cells(release / f"{module}.ipynb"):
            meta = nbgrader_meta(cell)
            if meta.get("solution"):
                code = "".join(cell["source"])
                tree = ast.parse(code)
                assert ast.get_docstring(tree.body[0]), meta["grade_id"]
                assert f"# TODO({meta['grade_id']})" in code
                assert "raise NotImplementedError()" in code


def test_hidden_block_is_one_call(notebooks: tuple[Path, Path]) -> None:
    """Does each source test cell's hidden block make just the one call into the kit?"""
    source, _ = notebooks
    for module in MODULES:
        for cell in cells(source / f"{module}.ipynb"):
            meta = nbgrader_meta(cell)
            if meta.get("grade"):
                code = "".join(cell["source"])
                hidden = code.split(build.BEGIN_HIDDEN)[1].split(build.END_HIDDEN)[0]
                exercise = meta["grade_id"].removesuffix("_tests")
                assert hidden.strip() == build.hidden_call(exercise)


# ---- extract -------------------------------------------------------------------------------


def test_extracted_reference_is_the_solution_code(notebooks: tuple[Path, Path]) -> None:
    """Does the reference notebook extract to a module defining every exercise of its topic,
    with the kit's imports, and no error?"""
    source, _ = notebooks
    for module in MODULES:
        got = extract(module, (source / f"{module}.ipynb").read_bytes(), f"{module}.ipynb")
        assert got.errors == []
        assert got.source is not None
        tree = ast.parse(got.source)
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert names == {e.id for e in manifest.load() if e.module == module}
        assert build.preamble(module) in got.source


def _notebook(*code_cells: tuple[dict, str]) -> bytes:
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "metadata": meta, "source": src, "outputs": []}
                for meta, src in code_cells
            ],
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    ).encode()


def answer(grade_id: str) -> dict:
    return {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": grade_id}}


def test_tries_and_prints_are_left_out() -> None:
    """Are calls, prints and attribute patches in answer and added cells left out, while defs,
    imports and constants stay, and the kit's locked cells are never taken?"""
    raw = _notebook(
        (
            {"nbgrader": {"locked": True, "grade_id": "data", "solution": False, "grade": False}},
            "import os\nos.system('x')\n",
        ),
        ({}, "import math\nEPS = 1e-9\nprint(attention_scores)\ntorch.allclose = None\n"),
        (answer("attention_scores"), "def attention_scores(q, x):\n    return x @ q\n\nprint(1)\n"),
        ({}, "%timeit attention_scores(q, x)\ndef helper():\n    return math.pi\n"),
    )
    got = extract("simple_attention", raw, "simple_attention.ipynb")
    body = got.source.split(build.preamble("simple_attention"), 1)[1]  # type: ignore[union-attr]
    assert "import math" in body and "EPS = 1e-9" in body and "def helper" in body
    assert "def attention_scores" in body
    assert "print" not in body and "allclose" not in body and "os.system" not in body
    assert "timeit" not in body
    missing = [e.id for e in manifest.load() if e.module == "simple_attention"][1:]
    assert got.errors == [
        f"simple_attention.ipynb has no answer cell defining {i}: {i} scores 0; copy its cell "
        "back from the released notebook and fill it in"
        for i in missing
    ]


def test_broken_notebooks_get_one_line_each() -> None:
    """Do a file that is not JSON, JSON that is no notebook, and an added cell that does not
    parse each get one line saying so?"""
    not_json = extract("simple_attention", b"\x00{ not JSON", "s.ipynb")
    assert not_json.source is None
    assert len(not_json.errors) == 1
    assert not_json.errors[0].startswith("s.ipynb is not a notebook (not valid JSON: ")
    assert not_json.errors[0].endswith("; its exercises score 0")
    no_cells = extract("simple_attention", b'{"nbformat": 4}', "s.ipynb")
    assert no_cells.source is None
    assert no_cells.errors == [
        "s.ipynb is JSON but not a Jupyter notebook (it has no list of cells): hand in the "
        "released notebook with your answers; its exercises score 0"
    ]
    syntax = extract("numpy_attention", _notebook(({}, "def (:\n")), "n.ipynb")
    assert (
        syntax.errors[0]
        == "n.ipynb: cell 1 does not parse (line 1 of that cell: invalid syntax): it was left out"
    )


def test_an_answer_cell_that_does_not_parse_costs_only_its_exercise() -> None:
    """Does an answer cell that does not parse score only its own exercise 0 (one line naming
    the cell and its line, a stand-in that says the same when called), while the other cells
    are kept and the module parses?"""
    raw = _notebook(
        (answer("softmax_rows"), "def softmax_rows(s):\n    return (\n"),
        (answer("scores_numpy"), "def scores_numpy(x):\n    return x @ x.T\n"),
    )
    got = extract("numpy_attention", raw, "n.ipynb")
    line = (
        "n.ipynb: cell 1 (softmax_rows) does not parse (line 2 of that cell: '(' was never "
        "closed): softmax_rows scores 0 until it does; the notebook's other cells were graded"
    )
    assert got.errors[0] == line
    assert not any("scores_numpy" in e for e in got.errors)
    ns: dict = {}
    exec(compile(got.source, "m", "exec"), ns)  # type: ignore[arg-type]
    assert ns["scores_numpy"].__code__.co_filename == "m"  # the student's own, kept
    with pytest.raises(NotImplementedError) as e:
        ns["softmax_rows"]([[1.0]])
    assert str(e.value) == line.split(": softmax_rows scores")[0]


def test_a_refused_answer_cell_costs_only_its_exercise() -> None:
    """Is an answer cell the bounded parser refuses (nested too deeply) treated the same?"""
    deep = "def softmax_rows(s):\n    return " + "-" * 100_000 + "1\n"
    raw = _notebook((answer("softmax_rows"), deep), (answer("scores_numpy"), "X = 1\n"))
    got = extract("numpy_attention", raw, "n.ipynb")
    assert got.errors[0].startswith("n.ipynb: cell 1 (softmax_rows) cannot be read (")
    assert got.errors[0].endswith(
        "): softmax_rows scores 0 until it can be read; the notebook's other cells were graded"
    )
    assert "X = 1" in got.source  # type: ignore[operator]


def test_a_broken_cell_redefined_later_is_only_left_out() -> None:
    """When a later cell defines the exercise, is the broken cell only said to be left out?"""
    raw = _notebook(
        (answer("softmax_rows"), "def softmax_rows(s:\n"),
        ({}, "def softmax_rows(s):\n    return s\n"),
    )
    got = extract("numpy_attention", raw, "n.ipynb")
    assert got.errors[0] == (
        "n.ipynb: cell 1 (softmax_rows) does not parse (line 1 of that cell: '(' was never "
        "closed): it was left out"
    )


def test_module_lines_map_back_to_cells() -> None:
    """Does every line of the extracted module map back to its cell and line there, and is a
    traceback line naming the module rewritten in the notebook's words?"""
    raw = _notebook(
        ({}, "import math\n\nprint(1)\nK = 2\n"),
        (answer("softmax_rows"), "# mine\ndef softmax_rows(s):\n    x = 1\n    return s / 0\n"),
    )
    got = extract("numpy_attention", raw, "exercises/numpy_attention.ipynb")
    assert got.cells is not None
    lines = got.source.split("\n")  # type: ignore[union-attr]
    at = lines.index("    return s / 0") + 1
    assert got.cells.where(at) == "cell 2 (softmax_rows), line 4"
    assert got.cells.where(lines.index("K = 2") + 1) == "cell 1, line 4"
    assert got.cells.where(1) == "outside your answer cells"
    tb = f'  File "exercises/numpy_attention.py", line {at}, in softmax_rows'
    assert relabel(tb, "numpy_attention", got.cells) == (
        '  File "exercises/numpy_attention.ipynb", cell 2 (softmax_rows), line 4, in softmax_rows'
    )
    assert relabel("exercises/numpy_attention.py has no x", "numpy_attention", got.cells) == (
        "exercises/numpy_attention.ipynb has no x"
    )


@pytest.mark.slow
def test_hidden_call_outside_nbgrader_grades_the_notebooks_on_disk(tmp_path: Path) -> None:
    """Run in a folder of notebooks (as when the instructor runs the source notebooks), does the
    hidden call grade them with the isolated grader: full points for the reference answers, 0
    for an exercise whose answer cell was changed to normalise the columns?"""
    folder = tmp_path / "attention"
    write_source(folder)
    simple = folder / "simple_attention.ipynb"
    text = simple.read_text(encoding="utf-8")
    wrong = text.replace(
        "all_attention_scores(inputs), dim=-1)", "all_attention_scores(inputs), dim=0)"
    )
    assert wrong != text
    simple.write_text(wrong, encoding="utf-8")
    call = (
        "from autograder.notebooks.kernel import hidden_points\n"
        "print(hidden_points('softmax_stable'), hidden_points('all_attention_weights'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", call],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "TMPDIR": str(tmp_path / "tmp"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "ATTENTION_KIT_SEED": "7",
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["5.0", "0.0"]
    kept = list((tmp_path / "cache" / "attention-kit").glob("points-*.json"))
    assert len(kept) == 1  # graded once, in the user's cache folder
    assert kept[0].stat().st_mode & 0o077 == 0  # readable by its owner only
    assert not (tmp_path / "tmp").exists() or not any((tmp_path / "tmp").iterdir())


# Runs the code cells of one notebook up to its test cell for one exercise; prints what that
# test cell raised (type and message) or printed.
ONE_CHECK = """
import contextlib, io, json, sys
from autograder.notebooks.build import clear_hidden_tests
name, exercise = sys.argv[1], sys.argv[2]
ns = {"__name__": "__main__"}
for cell in json.load(open(name + ".ipynb"))["cells"]:
    if cell["cell_type"] != "code":
        continue
    code = compile(clear_hidden_tests("".join(cell["source"])), cell["id"], "exec")
    if cell["id"] != exercise + "-tests":
        exec(code, ns)
        continue
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(code, ns)
        print(json.dumps(["passed", out.getvalue()]))
    except BaseException as e:
        print(json.dumps([type(e).__name__, str(e)]))
    break
"""


def one_check(folder: Path, module: str, exercise: str) -> tuple[str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", ONE_CHECK, module, exercise],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    kind, text = json.loads(proc.stdout.strip().splitlines()[-1])
    return kind, text


def with_answer(path: Path, exercise: str, old: str, new: str) -> None:
    """Replace `old` by `new` in the answer cell of `exercise` in the notebook at `path`."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") == exercise)
    source = "".join(cell["source"])
    assert source.count(old) == 1, source
    cell["source"] = source.replace(old, new)
    path.write_text(json.dumps(nb), encoding="utf-8")


@pytest.mark.slow
def test_visible_checks_are_make_checks(tmp_path: Path) -> None:
    """Does a notebook's test cell run make check's tests with its messages: a float mask fails
    on its dtype, a mask with the diagonal gets its Looks like: line and hint, a right answer
    passes, and an unwritten one raises NotImplementedError saying so?"""
    folder = tmp_path / "nb"
    write_source(folder)
    causal = folder / "causal_attention.ipynb"
    mask = "torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)"
    kind, text = one_check(folder, "causal_attention", "causal_mask")
    assert (kind, text) == ("passed", "causal_mask: the 3 checks of make check pass.\n")
    floats = mask.replace(", dtype=torch.bool", "")
    with_answer(causal, "causal_mask", mask, floats)
    kind, text = one_check(folder, "causal_attention", "causal_mask")
    assert kind == "AssertionError" and "expected: torch.bool" in text, text
    with_answer(causal, "causal_mask", floats, mask.replace("diagonal=1", "diagonal=0"))
    kind, text = one_check(folder, "causal_attention", "causal_mask")
    assert kind == "AssertionError", text
    assert "Looks like: your mask hides the diagonal too" in text, text
    assert "Hint: torch.triu(..., diagonal=1)" in text and "make check EX" not in text, text
    stubs = tmp_path / "stubs"
    write_student(stubs)
    kind, text = one_check(stubs, "causal_attention", "causal_mask")
    assert kind == "NotImplementedError" and "causal_mask: not started" in text, text


@pytest.mark.slow
def test_an_unfinished_notebook_it_uses_is_named(tmp_path: Path) -> None:
    """The multihead notebook with its own answers written but causal_attention.ipynb still a
    stub: does the wrapper's check say CausalAttention is not started there (not a bare
    NotImplementedError)?"""
    write_student(tmp_path)
    (tmp_path / "multihead_attention.ipynb").unlink()
    write_source(tmp_path / "source")
    shutil.move(tmp_path / "source" / "multihead_attention.ipynb", tmp_path)
    kind, text = one_check(tmp_path, "multihead_attention", "MultiHeadAttentionWrapper")
    assert kind == "NotImplementedError", text
    assert "CausalAttention: not started in causal_attention.ipynb" in text, text


@pytest.mark.slow
def test_one_broken_cell_costs_only_its_exercise_when_graded(tmp_path: Path) -> None:
    """Graded by attention-kit autograde: with SelfAttention_v2's answer cell not parsing and
    SelfAttention_v1's raising when called, do those two score 0 and every other exercise full
    points, the collection line name SelfAttention_v2's cell, and SelfAttention_v1's feedback
    name its cell and line, never the extracted module?"""
    from autograder.notebooks.grade import grade_snapshots

    write_source(tmp_path)
    path = tmp_path / "trainable_attention.ipynb"
    with_answer(path, "SelfAttention_v2", "class SelfAttention_v2(nn.Module):", "class Self(:")
    call = "        return self_attention(x, self.W_query, self.W_key, self.W_value)"
    with_answer(path, "SelfAttention_v1", call, '        raise ValueError("mine")')
    nb = json.loads(path.read_text(encoding="utf-8"))
    n, v1 = next(
        (n, "".join(c["source"]))
        for n, c in enumerate(nb["cells"], start=1)
        if nbgrader_meta(c).get("grade_id") == "SelfAttention_v1"
    )
    line = v1.split("\n").index('        raise ValueError("mine")') + 1
    notebooks = {m: (tmp_path / f"{m}.ipynb").read_bytes() for m in MODULES}
    got = grade_snapshots({"ada": notebooks}, seed=3)["ada"]
    full = {e.id: e.points for e in manifest.load()}
    v1_points = got.points.pop("SelfAttention_v1")
    assert 0.0 <= v1_points < full.pop("SelfAttention_v1")  # its checks that call forward fail
    assert got.points == {**full, "SelfAttention_v2": 0.0}
    [collected] = [e for e in got.errors if "SelfAttention_v2" in e]
    assert collected.startswith("trainable_attention.ipynb: cell ")
    assert "(SelfAttention_v2) does not parse (line 1 of that cell: " in collected
    assert collected.endswith(
        "SelfAttention_v2 scores 0 until it does; the notebook's other cells were graded"
    )
    said = got.messages["SelfAttention_v1"]
    assert f"cell {n} (SelfAttention_v1), line {line}" in said, said
    assert "ValueError: mine" in said, said
    assert "exercises/trainable_attention.py" not in said + "\n".join(got.errors)


def test_an_unreadable_kept_grading_is_graded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept grading that is not JSON (a half-written or planted file) is graded afresh and
    replaced, without an error."""
    from types import SimpleNamespace

    from autograder.notebooks import grade, kernel

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTENTION_KIT_SEED", "7")
    monkeypatch.chdir(tmp_path)
    graded = []

    def grade_folders(folders: dict, seed: int) -> dict:
        graded.append(seed)
        return {"notebook": SimpleNamespace(points={"softmax_stable": 5.0})}

    monkeypatch.setattr(grade, "grade_folders", grade_folders)
    kept = kernel.cache_dir() / f"points-{grade.digest(tmp_path)[:32]}-7.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{not json")
    assert kernel.hidden_points("softmax_stable") == 5.0
    assert kernel.hidden_points("softmax_stable") == 5.0  # the second from the kept file
    assert graded == [7]
    assert json.loads(kept.read_text()) == {"softmax_stable": 5.0}
