"""A notebook's visible checks: `check("<exercise>", globals())`, the test cell's first line.

It runs the public tests of that exercise, those `make check` runs, on the answers as they are
in the notebook's kernel, and says what `make check` says: what was checked, the input, the
expected value, what came back, a `Looks like:` line for a known mistake, and the hint that fits.
The answers are handed to the tests as a module of a package of their own (made afresh for each
call), whose file holds the answer cells' source, so that the check for off-limits calls reads
the student's code as it does in exercises/.

A passing exercise prints one line. Otherwise the cell fails: NotImplementedError while the
answer (or an answer it uses from another notebook) is not written yet, AssertionError with the
report when it is written but wrong.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import linecache
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from . import manifest

PACKAGE = "notebook_answers"
_count = itertools.count()


def _defined_in_cells(namespace: dict[str, Any]) -> dict[str, Any]:
    """The functions and classes the notebook itself defined (not imported), by name."""
    found = {}
    for name, value in namespace.items():
        if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if getattr(value, "__module__", None) in ("__main__", namespace.get("__name__")):
            found[name] = value
    return found


def _code_file(value: Any) -> str | None:
    """The file (a notebook cell, as the kernel keeps it) a function or class was defined in."""
    if inspect.isfunction(value):
        return value.__code__.co_filename
    for member in vars(value).values():
        if inspect.isfunction(member):
            return member.__code__.co_filename
    return None


def _source(name: str, value: Any) -> str:
    """The source of the cell's top-level `def name` or `class name`, or "" when unknown."""
    filename = _code_file(value)
    text = "".join(linecache.getlines(filename)) if filename else ""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return ast.get_source_segment(text, node, padded=False) or ""
    return ""


def _package(exercise: manifest.Exercise, namespace: dict[str, Any]) -> tuple[str, str]:
    """A fresh package whose module `exercise.module` is the notebook's names: its name, and
    the folder put on sys.path to import it."""
    package = f"{PACKAGE}_{next(_count)}"
    root = Path(tempfile.mkdtemp(prefix="attention-kit-notebook-"))
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text('"""The answers of a notebook."""\n', encoding="utf-8")
    path = folder / f"{exercise.module}.py"
    sources = [_source(n, v) for n, v in _defined_in_cells(namespace).items()]
    path.write_text("\n\n".join(s for s in sources if s) + "\n", encoding="utf-8")
    module = types.ModuleType(f"{package}.{exercise.module}")
    module.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("_")})
    module.__file__ = str(path)
    sys.path.insert(0, str(root))
    sys.modules[module.__name__] = module  # the tests get the kernel's own objects, not a copy
    return package, str(root)


def check(exercise_id: str, namespace: dict[str, Any]) -> None:
    """Run `make check`'s tests of `exercise_id` on the notebook's answers (`globals()`)."""
    from . import check as make_check

    exercise = manifest.by_id()[exercise_id]
    package, root = _package(exercise, namespace)
    try:
        statuses, output, code = make_check.run([exercise], package)
    finally:
        sys.path[:] = [p for p in sys.path if p != root]
        shutil.rmtree(root, ignore_errors=True)  # read by the checks only while they ran
    if code not in (0, 1):
        raise RuntimeError(f"the checks of {exercise_id} could not run:\n{output[-2000:]}")
    status = statuses[0]
    if status.state == "done":
        print(f"{exercise_id}: the {status.passed} checks of make check pass.")
        return
    waiting = next((p for p in status.problems if p.kind == "waiting"), None)
    if waiting is not None:
        raise NotImplementedError(waiting.message)
    if all(p.message.split("\n")[0] == "NotImplementedError" for p in status.problems):
        raise NotImplementedError(
            f"{exercise_id}: not started: write it in the answer cell above and delete its "
            "`raise NotImplementedError()` line"
        )
    marks = make_check._marks()
    lines = [
        line
        for line in make_check._explain(status, marks)
        if not line.startswith("Check it again with")
    ]
    raise AssertionError("\n".join(lines).rstrip())
