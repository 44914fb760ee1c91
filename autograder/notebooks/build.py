"""Build the notebooks, one per topic, from solutions/, exercises.toml and the public fixtures.

The instructor (source) notebook of a topic holds, in teaching order: an introduction, a locked
cell with the module's imports, a locked cell with the examples' numbers, and per exercise an
explanation, a worked example, an autograded-answer cell (grade_id = the exercise id) with the
reference between `### BEGIN SOLUTION` and `### END SOLUTION`, and an autograder test cell
(`<id>_tests`, the exercise's points) with the visible checks (make check's tests of that
exercise, learner/notebook_checks.py) and a `### BEGIN HIDDEN TESTS`
block that asks the kit's grader. The student notebook is the same with each solution region
replaced by nbgrader's stub and the hidden block removed, as `nbgrader generate_assignment` does.

Nothing here needs nbgrader or Jupyter: notebooks are written as nbformat 4.5 JSON.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from learner import manifest
from learner.public.expect import FIXTURES

from .. import ROOT
from . import content

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's ClearSolutions default
SOLUTIONS = ROOT / "solutions"
IMPORTS_ID, DATA_ID = "imports", "data"  # grade_ids of the locked setup cells
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

VISIBLE = "from learner.notebook_checks import check  # make check's tests, in this notebook"

LOADER = '''\
# {names} {verb} yours, read from {notebook} in this folder: finish that notebook first.
import json
import re
from pathlib import Path


_STUB = re.compile(r"^\\s*raise NotImplementedError\\(\\)", re.MULTILINE)


def _unfinished(name, notebook):
    """Stands in for an answer still unwritten in `notebook`: says so when it is used."""

    def unfinished(*args, **kwargs):
        raise NotImplementedError(f"{{name}}: not started in {{notebook}} (finish it there first)")

    unfinished.__name__ = name
    return unfinished


def _answers(notebook):
    """Run the import and answer cells of another notebook of this assignment; return its names
    (an answer cell still holding its `raise NotImplementedError()` gives a stand-in that says
    so, instead of a bare NotImplementedError)."""
    names = {{}}
    for cell in json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]:
        meta = cell.get("metadata", {{}}).get("nbgrader", {{}})
        setup = meta.get("grade_id") == "{imports}"
        if cell["cell_type"] == "code" and (meta.get("solution") or setup):
            source = "".join(cell["source"])
            exec(source, names)
            if meta.get("solution") and _STUB.search(source):
                names[meta["grade_id"]] = _unfinished(meta["grade_id"], notebook)
    return names


_other = _answers("{notebook}")
{assign}'''


def hidden_call(exercise_id: str) -> str:
    """The hidden block's one call into the kit (see autograder/notebooks/kernel.py)."""
    return f'from autograder.notebooks.kernel import hidden_points\nhidden_points("{exercise_id}")'


# ---- reading a solution module -------------------------------------------------------------


def _start(node: ast.stmt) -> int:
    """First line of a statement, its decorators included."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def _split(module: str) -> tuple[str, list[str], dict[str, str], list[ast.ImportFrom]]:
    """(docstring, preamble statements, exercise id -> source, relative imports) of a solution."""
    source = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    ids = {e.id for e in manifest.load() if e.module == module}
    dropped = set(manifest.dropped())  # not part of this course: no cell, no code
    doc = ast.get_docstring(tree) or ""
    preamble, exercises, relative = [], {}, []
    starts = [_start(node) for node in tree.body] + [len(lines) + 1]
    for node, end in zip(tree.body, starts[1:], strict=False):
        # up to the next statement: a trailing `### END SOLUTION` comment belongs to this one
        text = "\n".join(lines[_start(node) - 1 : end - 1]).rstrip()
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and node is tree.body[0]
        ):
            continue  # the docstring
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in dropped:
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ids:
            exercises[node.name] = text
        elif isinstance(node, ast.ImportFrom) and node.level:
            relative.append(node)
        else:
            preamble.append(text)
    return doc, preamble, exercises, relative


def preamble(module: str) -> str:
    """The module's own imports and helpers, as its .py file has them (for extracted notebooks)."""
    source = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    ids = {e.id for e in manifest.curriculum() if e.module == module}  # dropped ones too
    lines = source.splitlines()
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    return "\n".join(
        "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in body
        if not (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ids)
    )


def _with_todo(code: str, todo: str, exercise_id: str) -> str:
    """Put the manifest's TODO line above every solution region."""
    out = []
    for line in code.splitlines():
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# TODO({exercise_id}): {todo}.")
        out.append(line)
    return "\n".join(out)


# ---- cells ---------------------------------------------------------------------------------


def _meta(
    grade_id: str,
    *,
    solution: bool = False,
    grade: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def new_cell(kind: str, source: str, cell_id: str, metadata: dict[str, Any] | None = None) -> dict:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": re.sub(r"[^A-Za-z0-9_-]", "-", cell_id)[:64],
        "metadata": metadata or {},
        "source": source,
    }
    if kind == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def _literal(value: Any) -> str:
    return json.dumps(value).replace("true", "True").replace("false", "False")


def data_cell_source(module: str) -> str:
    """The book's and the examples' numbers a notebook uses, each with its source, and the
    visible checks' `check`."""
    lines = [
        "# The numbers of the book and the worked examples, each with where it is printed.",
        "import numpy as np",
        "",
    ]
    dropped = manifest.dropped()  # a dropped exercise's own numbers go with its cells
    for name, fixture, key in content.DATA[module]:
        if key in dropped:
            continue
        entry = json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8"))["values"][
            key
        ]
        value = entry["value"]
        if name in ("journey", "cat_ran", "wars"):
            expr = f"torch.tensor({_literal(value)})"
        elif module == "numpy_attention" and name == "X":
            expr = f"np.array({_literal(value)}, dtype=float)"
        else:
            expr = _literal(value)
        lines.append(f"# {key}: {entry['source']}")
        lines.append(f"{name} = {expr}")
    lines += ["", VISIBLE]
    return "\n".join(lines)


def _loader_source(relative: list[ast.ImportFrom]) -> str:
    parts = []
    for node in relative:
        names = [a.name for a in node.names]
        parts.append(
            LOADER.format(
                names=", ".join(names),
                verb="is" if len(names) == 1 else "are",
                notebook=f"{node.module}.ipynb",
                imports=IMPORTS_ID,
                assign="\n".join(f'{a.asname or a.name} = _other["{a.name}"]' for a in node.names),
            )
        )
    return "\n\n".join(parts)


def source_notebook(module: str) -> dict[str, Any]:
    """The instructor notebook of one topic, with the solutions and the hidden tests."""
    doc, pre, exercises, relative = _split(module)
    title = doc.splitlines()[0].rstrip(".") if doc else module
    cells = [
        new_cell("markdown", f"# {title}\n\n{content.INTRO[module]}", "intro"),
        new_cell("markdown", content.HOW_TO, "how-to"),
        new_cell("code", "\n".join(pre), IMPORTS_ID, _meta(IMPORTS_ID, locked=True)),
    ]
    if relative:
        loader = _loader_source(relative)
        cells.append(
            new_cell("code", loader, "from-notebooks", _meta("from_notebooks", locked=True))
        )
    cells.append(new_cell("code", data_cell_source(module), DATA_ID, _meta(DATA_ID, locked=True)))
    chosen = [e for e in manifest.load() if e.module == module]
    for n, ex in enumerate(chosen, start=1):
        text, example = content.exercise_text(ex.id, ex.todo)
        checks = f'check("{ex.id}", globals())'
        points = f"{ex.points:g} point{'s' if ex.points != 1 else ''}"
        heading = f"## {n}. {ex.title} (`{ex.id}`, {points})\n\n{text}"
        cells.append(new_cell("markdown", heading, f"{ex.id}-text"))
        if example:
            cells.append(
                new_cell(
                    "code", example, f"{ex.id}-example", _meta(f"{ex.id}_example", locked=True)
                )
            )
        answer = _with_todo(exercises[ex.id], ex.todo, ex.id)
        cells.append(new_cell("code", answer, ex.id, _meta(ex.id, solution=True)))
        tests = f"{checks}\n{BEGIN_HIDDEN}\n{hidden_call(ex.id)}\n{END_HIDDEN}"
        meta = _meta(f"{ex.id}_tests", grade=True, locked=True, points=ex.points)
        cells.append(new_cell("code", tests, f"{ex.id}-tests", meta))
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# ---- the student version -------------------------------------------------------------------


def clear_solutions(source: str) -> str:
    """Each solution region replaced by the stub, indented like its BEGIN line (as nbgrader)."""
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            inside = True
            indent = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
            out += [indent + stub for stub in CODE_STUB.split("\n")]
        elif END in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def clear_hidden_tests(source: str) -> str:
    """The hidden block removed, markers included (as nbgrader's ClearHiddenTests)."""
    out, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out).rstrip("\n")


def student_notebook(module: str) -> dict[str, Any]:
    """The notebook a student works in: stubs, the visible checks, no solutions, no hidden tests."""
    nb = source_notebook(module)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = clear_solutions(cell["source"])
        if meta.get("grade"):
            cell["source"] = clear_hidden_tests(cell["source"])
    return nb


def dumps(nb: dict[str, Any]) -> str:
    """Notebook JSON as Jupyter writes it (indent 1, sources as line lists, trailing newline)."""
    out = json.loads(json.dumps(nb))
    for cell in out["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    return json.dumps(out, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write(dest: Path, *, student: bool) -> list[Path]:
    """Write one notebook per topic into `dest`; returns their paths in teaching order."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for module in manifest.modules():
        nb = student_notebook(module) if student else source_notebook(module)
        path = dest / f"{module}.ipynb"
        path.write_text(dumps(nb), encoding="utf-8")
        written.append(path)
    return written
