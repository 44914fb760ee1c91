"""What a corpus entry (tests/corpus/<name>/, graded by the kit's tests and described in the
red-team table) is expected to score, exercise by exercise."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from learner import manifest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def expected_points(entry: Path) -> dict[str, float]:
    """Each exercise's expected points: the entry's [points]; else its `others` (what every
    exercise [points] does not list scores, say 0 after a time budget ran out); else 0 for an
    exercise of a module the entry lists as `unimportable`, or that its own whole `<module>.py`
    file (or notebook's answer cells) does not define, or that is not handed in (base "none":
    only the `solved` modules and its own files are), or when its base is the stubs; else the
    manifest's full points. So an exercise added to the curriculum later changes no corpus
    file."""
    with open(entry / "expected.toml", "rb") as f:
        spec = tomllib.load(f)
    listed = spec.get("points", {})
    broken = set(spec.get("unimportable", []))
    stubs = spec.get("base", "solutions") == "exercises"
    defined: dict[str, set[str]] = {}
    for path in sorted((entry / "exercises").glob("*.py")):
        if not path.name.endswith(".defs.py"):
            defined[path.stem] = _top_level_names(path.read_bytes())
    for path in sorted((entry / "exercises").glob("*.ipynb")):
        defined[path.stem] = _notebook_names(path.read_bytes())
    others = spec.get("others")
    handed_in = {*spec.get("solved", []), *defined}
    absent = spec.get("base", "solutions") == "none"
    out = {}
    for e in manifest.load():
        missing = e.module in defined and e.id not in defined[e.module]
        nothing = stubs or missing or e.module in broken or (absent and e.module not in handed_in)
        default = others if others is not None else 0.0 if nothing else e.points
        out[e.id] = float(listed.get(e.id, default))
    return out


def _top_level_names(source: bytes) -> set[str]:
    """Names a module's top level defines (def, class, assignment, import, also inside a top-level
    if, try or with); a file that does not parse defines them all, as far as this rule goes (its
    entry lists what it scores)."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return _EVERYTHING
    return _names_in(body)


def _names_in(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If | ast.Try | ast.With):
            todo += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
            todo += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def _notebook_names(data: bytes) -> set[str]:
    """Names the code cells of a notebook define at their top level (a cell that does not parse
    defines none; a notebook that is not JSON defines them all: its entry lists what it scores)."""
    try:
        cells = json.loads(data)["cells"]
        sources = ["".join(c["source"]) for c in cells if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return _EVERYTHING
    names: set[str] = set()
    for source in sources:
        try:
            body = ast.parse(source).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        names |= _names_in(body)
    return names


class _All(set):  # type: ignore[type-arg]
    def __contains__(self, item: object) -> bool:
        return True


_EVERYTHING = _All()
