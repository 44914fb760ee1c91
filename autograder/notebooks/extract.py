"""Extract: a handed-in notebook -> the source of its module, graded like a .py file.

The module is the kit's own imports for that topic (the notebook's locked import cell, as
solutions/<module>.py has them), then, in notebook order:

- every autograded-answer cell (nbgrader metadata `solution: true`; its grade_id is the
  exercise id) and every code cell the student added (no nbgrader metadata), keeping only their
  top-level `def`, `class`, `import` and plain `name = ...` statements: a cell where the student
  tried a call or printed something never runs at import, so it cannot break the grade;
- never the kit's locked cells (data, worked examples) or its test cells.

Jupyter magics (`%time`, `!pip`) are commented out. Every problem is one line for the student's
errors: a file that is not JSON or not a notebook (the module scores 0), a cell that does not
parse (or that the bounded parser refuses) or whose source is not text (left out; for an answer
cell, its exercise gets a stand-in that raises the same line, so only that exercise scores 0 and
the notebook's other cells are graded), an exercise defined nowhere (that exercise scores 0).
Exercises that use a left-out cell's names fail when called, with their own error.

The module keeps a line map (`CellMap`) back to the notebook's cells: `relabel` rewrites an
error or traceback naming `exercises/<module>.py, line N` as the student's notebook, cell and line
there; the batch applies it to every graded submission (so all three roads say the same).

Nothing here trusts the JSON's shape, and every parse is the kit's bounded one
(learner/parse.py), so no notebook, however nested, stops the grader.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from learner import manifest, parse

from .build import preamble

if TYPE_CHECKING:
    from ..grading.model import Graded

MISSING = """

def {name}(*args, **kwargs):
    raise NotImplementedError("{name}: no answer cell for it in {shown}")
"""
BROKEN = """

def {name}(*args, **kwargs):
    raise NotImplementedError({why!r})
"""
KEPT = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


@dataclass
class Extracted:
    """The module source (None when the notebook could not be read) and one line per problem."""

    source: str | None
    errors: list[str] = field(default_factory=list)
    cells: CellMap | None = None  # where each line of `source` came from


Piece = tuple[int, int, str, int]  # (first line in the module, lines, cell label, first line in it)


@dataclass(frozen=True)
class CellMap:
    """The line map of an extracted module: its lines back to the notebook's cells."""

    notebook: str  # as the student handed it in, e.g. exercises/trainable_attention.ipynb
    pieces: tuple[Piece, ...] | list[Piece] = ()

    def where(self, line: int) -> str:
        """Module line `line` in the student's words: "cell 21 (SelfAttention_v2), line 3"."""
        for first, count, cell, start in self.pieces:
            if first <= line < first + count:
                return f"{cell}, line {start + line - first}"
        return "outside your answer cells"


def _cells(raw: bytes, shown: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The notebook's cells, or None and the line that says why not."""
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, f"{shown} is not UTF-8 text: save the notebook from Jupyter again"
    except ValueError as e:
        return None, (
            f"{shown} is not a notebook (not valid JSON: {e}): hand in the .ipynb file as "
            "Jupyter saved it"
        )
    except (RecursionError, MemoryError):
        return None, (
            f"{shown} is not a notebook (its JSON is nested too deeply to be read): hand in the "
            ".ipynb file as Jupyter saved it"
        )
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return None, (
            f"{shown} is JSON but not a Jupyter notebook (it has no list of cells): hand in the "
            "released notebook with your answers"
        )
    return cells, ""


def _text(cell: dict[str, Any]) -> str | None:
    """The cell's source: a string or a list of strings in the notebook format; None otherwise."""
    src = cell.get("source", "")
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(line, str) for line in src):
        return "".join(src)
    return None


def _uncomment_magics(code: str) -> str:
    return "\n".join(
        f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in code.split("\n")
    )


def _kept_statements(code: str) -> list[tuple[int, str]]:
    """Top-level def/class/import and `name = ...` statements of a cell, in order, each with the
    cell line it starts on."""
    tree = parse.parse(code)
    lines = code.split("\n")
    parts = []
    for node in tree.body:
        plain_assign = isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
            isinstance(t, ast.Name)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        if isinstance(node, KEPT) or plain_assign:
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            parts.append((start, "\n".join(lines[start - 1 : node.end_lineno])))
    return parts


def _defined(source: str) -> set[str]:
    try:
        tree = parse.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def extract(module: str, raw: bytes, shown: str) -> Extracted:
    """The module source of the notebook `raw` (file `shown`) for topic `module`."""
    cells, problem = _cells(raw, shown)
    if cells is None:
        return Extracted(None, [f"{problem}; its exercises score 0"])
    ids = [ex.id for ex in manifest.load() if ex.module == module]
    errors: list[str] = []
    kept: list[tuple[str, int, str]] = []  # (cell label, its first line in the cell, text)
    broken: dict[str, str] = {}  # exercise id -> why its answer cell was left out
    until: dict[str, str] = {}  # exercise id -> what the cell needs: "it does" (parse), ...
    for n, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {})
        nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        nbg = nbg if isinstance(nbg, dict) else {}
        if not nbg.get("solution") and (nbg.get("locked") or nbg.get("grade")):
            continue  # the kit's own cells: imports, data, examples, tests
        grade_id = nbg.get("grade_id")
        where = f"cell {n}" + (f" ({grade_id[:60]})" if isinstance(grade_id, str) else "")
        text = _text(cell)
        if text is None:
            errors.append(
                f"{shown}: {where} has a source that is not text (a string or a list of strings): "
                "it was left out"
            )
            continue
        try:
            kept += [
                (where, start, part) for start, part in _kept_statements(_uncomment_magics(text))
            ]
        except SyntaxError as e:  # parse.Unparseable too: the bounded parser refused the cell
            refused = isinstance(e, parse.Unparseable)
            why = (
                f"cannot be read ({e.msg})"
                if refused
                else f"does not parse (line {e.lineno} of that cell: {e.msg})"
            )
            if nbg.get("solution") and grade_id in ids:
                broken[grade_id] = f"{shown}: {where} {why}"
                until[grade_id] = "it can be read" if refused else "it does"
            else:
                errors.append(f"{shown}: {where} {why}: it was left out")
    header = f'"""{module}: the answer cells of its notebook."""'  # the same in every layout
    source = f"{header}\n\n{preamble(module)}\n\n\n"
    pieces: list[Piece] = []
    for where, start, text in kept:
        pieces.append((source.count("\n") + 1, text.count("\n") + 1, where, start))
        source += f"{text}\n\n\n"
    if _parses(source):  # otherwise the grader reports the syntax error itself
        defined = _defined(source)
        for ex_id in ids:
            if ex_id in broken and ex_id in defined:
                errors.append(f"{broken[ex_id]}: it was left out")
            elif ex_id in broken:
                errors.append(
                    f"{broken[ex_id]}: {ex_id} scores 0 until {until[ex_id]}; the notebook's other "
                    "cells were graded"
                )
                source += BROKEN.format(name=ex_id, why=broken[ex_id])
            elif ex_id not in defined:
                errors.append(
                    f"{shown} has no answer cell defining {ex_id}: {ex_id} scores 0; copy its "
                    "cell back from the released notebook and fill it in"
                )
                # a stand-in, so the grader does not report the same missing name again
                source += MISSING.format(name=ex_id, shown=shown)
    return Extracted(source, errors, CellMap(shown, pieces))


def _parses(source: str) -> bool:
    try:
        parse.parse(source)
    except SyntaxError:
        return False
    return True


def relabel(text: str, module: str, cells: CellMap) -> str:
    """`text` (an error, a traceback) with the extracted module's file and lines named as the
    student's notebook and cells: `"exercises/m.py", line 43` -> `"m.ipynb", cell 21 (X), line
    3`."""
    pattern = re.compile(rf'(")?exercises/{re.escape(module)}\.py(")?(?:(, line |:| line )(\d+))?')

    def named(m: re.Match[str]) -> str:
        quoted = f"{m[1] or ''}{cells.notebook}{m[2] or ''}"
        return f"{quoted}, {cells.where(int(m[4]))}" if m[4] else quoted

    return pattern.sub(named, text)


def relabel_graded(graded: Graded, cells: dict[str, CellMap]) -> Graded:
    """`graded` with every error and check message naming notebook cells, for the modules that
    came from a notebook."""

    def words(text: str) -> str:
        for module, cell_map in cells.items():
            text = relabel(text, module, cell_map)
        return text

    if not cells:
        return graded
    return replace(
        graded,
        errors=[words(e) for e in graded.errors],
        checks=[replace(c, message=words(c.message)) for c in graded.checks],
    )
