"""Generate the student stubs (exercises/) from the reference solutions (solutions/).

Every region between `### BEGIN SOLUTION` and `### END SOLUTION` becomes a TODO line from the
manifest and a `raise NotImplementedError` naming the exercise; everything else is copied.
`python -m autograder.stubs` writes them; `--check` fails when a committed stub is stale.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from learner import manifest, pristine

from . import ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
# the first line of every stub: for the student, so it names only what they have
HEADER = (
    "# Your exercises: write each TODO below, then run `make check` (`make hint` for a hint).\n"
)


def _owner(tree: ast.Module, lineno: int) -> str:
    """Name of the top-level function or class that encloses line `lineno`."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.lineno <= lineno <= (node.end_lineno or node.lineno):
                return node.name
    raise ValueError(f"line {lineno}: solution region outside any function or class")


def _dropped_lines(tree: ast.Module, source: str, dropped: tuple[str, ...]) -> set[int]:
    """Lines of the dropped exercises' definitions (decorators, a closing END marker and the
    blank lines after them included): the course does not teach them, so the stubs leave
    them out."""
    lines = source.splitlines()
    gone: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in dropped:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno or node.lineno
            while last < len(lines) and lines[last].strip() in ("", END):
                last += 1
            gone.update(range(first, last + 1))
    return gone


def stub_source(source: str, name: str = "<solution>") -> str:
    """The student version of one solution module."""
    tree = ast.parse(source)
    todos = {e.id: e.todo for e in manifest.curriculum()}
    gone = _dropped_lines(tree, source, manifest.dropped())
    out: list[str] = [HEADER]
    lines = source.splitlines(keepends=True)
    region: str | None = None
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if lineno in gone:
            continue
        if stripped == BEGIN:
            if region is not None:
                raise ValueError(f"{name}:{lineno}: nested {BEGIN}")
            region = _owner(tree, lineno)
            if region not in todos:
                raise ValueError(f"{name}:{lineno}: {region} is not in exercises.toml")
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# TODO({region}): {todos[region]}.\n")
            out.append(f'{indent}raise NotImplementedError("{region}: not started")\n')
        elif stripped == END:
            if region is None:
                raise ValueError(f"{name}:{lineno}: {END} without {BEGIN}")
            region = None
        elif region is None:
            out.append(line)
    if region is not None:
        raise ValueError(f"{name}: {BEGIN} in {region} is never closed")
    return "".join(out)


def expected_stubs() -> dict[Path, str]:
    """Every file exercises/ should hold, with its contents."""
    package_doc = '"""Your exercises: fill in the TODOs, then run `make check`."""\n'
    files = {EXERCISES / "__init__.py": package_doc}
    for module in manifest.modules():
        path = SOLUTIONS / f"{module}.py"
        files[EXERCISES / path.name] = stub_source(path.read_text(), path.name)
    # the same stubs again, shipped with the check, for `make reset` (students have no solutions/)
    modules = {m: files[EXERCISES / f"{m}.py"] for m in manifest.modules()}
    files[pristine.STUBS_JSON] = pristine.to_json(modules)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is stale")
    args = parser.parse_args(argv)
    stale = [p for p, text in expected_stubs().items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run `make exercises`)", file=sys.stderr)
        return 1 if stale else 0
    EXERCISES.mkdir(exist_ok=True)
    for path, text in expected_stubs().items():
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
