"""Corpus entries stored as what differs from their base, and the one place that builds them.

An entry folder tests/corpus/<name>/ holds expected.toml (`base` = "solutions" or "stubs") and
exercises/, where each module is one of:

- `<module>.py`: the whole module, as the student hands it in (kept for raw bytes and for modules
  that are not a copy of the base);
- `<module>.defs.py`: only the top-level statements that differ: a def/class with a base's name
  replaces it in place, a new one is appended, imports go to the top (after the docstring).

expected.toml may also list exact text edits, applied after the defs:

    [[edits]]
    module = "simple_attention"
    old = "dim=-1"
    new = "dim=0"

An edit whose `old` text is not in the module fails loudly, naming the entry.
`solved = [module, ...]` hands those modules in exactly as the solutions have them (base "none").
What an entry is expected to score is [points], with the defaults of autograder/corpus.py
(`others = 0` for every exercise [points] does not list; else 0 for what a whole module file or
notebook does not define, for every exercise of a module listed as `unimportable = [module, ...]`,
for a module not handed in, and on the stubs base; full marks otherwise).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from autograder.corpus import expected_points  # noqa: F401  (the tests' one import of it)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
BASES = {
    "solutions": ROOT / "solutions",
    "exercises": ROOT / "exercises",
    "stubs": ROOT / "exercises",
}
DEFS_SUFFIX = ".defs.py"


class EntryError(ValueError):
    """An entry that cannot be built from its base any more."""


def expectations(entry: Path) -> dict:
    with open(entry / "expected.toml", "rb") as f:
        return tomllib.load(f)


def _name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    return None


def _segments(source: str) -> list[tuple[ast.stmt, str]]:
    """Each top-level statement with its exact text (decorators and comments above included)."""
    lines = source.splitlines(keepends=True)
    body = ast.parse(source).body
    out = []
    for i, node in enumerate(body):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        end = body[i + 1].lineno - 1 if i + 1 < len(body) else len(lines)
        if i + 1 < len(body):  # the next statement's decorators belong to it
            nxt = body[i + 1]
            end = min([nxt.lineno] + [d.lineno for d in getattr(nxt, "decorator_list", [])]) - 1
        out.append((node, "".join(lines[start:end])))
    return out


def merge_defs(base: str, defs: str, where: str = "") -> str:
    """`base` with `defs`' named top-level definitions replacing or added, its imports on top."""
    try:
        mine = _segments(defs)
        theirs = _segments(base)
    except SyntaxError as e:
        raise EntryError(f"{where}: does not parse: {e}") from e
    replace = {_name(n): text for n, text in mine if _name(n)}
    imports = [t for n, t in mine if isinstance(n, ast.Import | ast.ImportFrom)]
    others = [t for n, t in mine if not _name(n) and not isinstance(n, ast.Import | ast.ImportFrom)]
    out, used = [], set()
    head = base.splitlines(keepends=True)[: theirs[0][0].lineno - 1] if theirs else []
    out.append("".join(head))
    for i, (node, text) in enumerate(theirs):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            out.append(text)  # the docstring stays first
            out.extend(imports)
            imports = []
            continue
        name = _name(node)
        if name in replace:
            out.append(_ensure_blank(replace[name]))
            used.add(name)
        else:
            out.append(text)
    if imports:
        out.insert(1, "".join(imports))
    added = [_ensure_blank(t) for n, t in replace.items() if n not in used]
    text = "".join(out)
    if added or others:
        text = text.rstrip("\n") + "\n\n\n" + "".join(added + others)
    return text


def _ensure_blank(text: str) -> str:
    return text.rstrip("\n") + "\n\n\n"


def apply_edits(text: str, edits: list[dict], module: str, where: str) -> str:
    for edit in edits:
        if edit["module"] != module:
            continue
        if edit["old"] not in text:
            raise EntryError(f"{where}: edit no longer applies to {module}.py: {edit['old']!r}")
        text = text.replace(edit["old"], edit["new"], 1)
    return text


def sources(entry: Path) -> dict[str, str]:
    """The entry's own modules (module name -> text), built from its base; the base's other
    modules are not included."""
    expected = expectations(entry)
    base_dir = BASES.get(expected.get("base", "solutions"))
    edits = expected.get("edits", [])
    if base_dir is None and (edits or list((entry / "exercises").glob(f"*{DEFS_SUFFIX}"))):
        raise EntryError(f"corpus entry {entry.name}: edits need a base, not {expected['base']!r}")
    folder = entry / "exercises"
    modules: dict[str, str] = {
        module: (BASES["solutions"] / f"{module}.py").read_text(encoding="utf-8")
        for module in expected.get("solved", [])  # handed in exactly as solved
    }
    for path in sorted(folder.glob(f"*{DEFS_SUFFIX}")):
        module = path.name[: -len(DEFS_SUFFIX)]
        base = (base_dir / f"{module}.py").read_text(encoding="utf-8")
        where = f"corpus entry {entry.name}"
        modules[module] = merge_defs(base, path.read_text(encoding="utf-8"), where)
    for module in sorted({e["module"] for e in edits} - set(modules)):
        modules[module] = (base_dir / f"{module}.py").read_text(encoding="utf-8")
    for module in list(modules):
        modules[module] = apply_edits(modules[module], edits, module, f"corpus entry {entry.name}")
    return modules


def materialise(entry: Path, target: Path, with_base: bool = False) -> Path:
    """Write the entry's exercises/ folder into `target` (created); whole `<module>.py` files are
    copied byte for byte. With `with_base`, the base's other modules are written first."""
    target.mkdir(parents=True, exist_ok=True)
    if with_base:
        base_dir = BASES.get(expectations(entry).get("base", "solutions"))
        for path in base_dir.glob("*.py") if base_dir else []:
            (target / path.name).write_bytes(path.read_bytes())
    folder = entry / "exercises"
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and not path.name.endswith(DEFS_SUFFIX):
                (target / path.name).write_bytes(path.read_bytes())
    for module, text in sources(entry).items():
        (target / f"{module}.py").write_text(text, encoding="utf-8")
    return target


def own_sources(entry: Path) -> dict[str, str]:
    """Every module the entry hands in (module name -> text): its whole files and its built ones."""
    folder = entry / "exercises"
    whole = {
        p.stem: p.read_text(encoding="utf-8")
        for p in sorted(folder.glob("*.py"))
        if not p.name.endswith(DEFS_SUFFIX)
    }
    return whole | sources(entry)
