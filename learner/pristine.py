"""The untouched stubs, shipped as learner/public/stubs.json, for `make reset`.

Every stub module's text as it was handed out is kept here, written with the stubs themselves
(`make test` fails when it is stale).
`region` finds one exercise's top-level function or class in a module's text, even when the
file does not parse, so that a reset replaces that exercise and nothing else.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

STUBS_JSON = Path(__file__).resolve().parent / "public" / "stubs.json"


def to_json(stubs: dict[str, str]) -> str:
    """The text of stubs.json: {module: the stub module's source}."""
    return json.dumps(stubs, indent=1, ensure_ascii=False) + "\n"


def load(path: Path = STUBS_JSON) -> dict[str, str]:
    """{module: stub source}; ValueError when the file is missing or not that shape."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.name} cannot be read ({e}); it came with the exercises") from e
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"{path.name} is not a map of module to source")
    return raw


def region(lines: list[str], name: str) -> tuple[int, int] | None:
    """[start, end) line indices of the top-level `def name` or `class name`, decorators included.

    Read with the parser when the file parses; otherwise from the indentation: the region runs
    from the `def`/`class` line to the last non-blank line before the next line that starts at
    column 0 (trailing comments excluded, as the parser does). None when there is no such
    definition.
    """
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return _region_by_indent(lines, name)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                return first - 1, node.end_lineno or node.lineno
    return None


def _region_by_indent(lines: list[str], name: str) -> tuple[int, int] | None:
    header = re.compile(rf"(async\s+def|def|class)\s+{re.escape(name)}\b")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    end = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace():
            break
        if line.strip() and not line.lstrip().startswith("#"):
            end = i + 1  # as the parser sees it: a comment after the last statement is not in it
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1
    return start, end
