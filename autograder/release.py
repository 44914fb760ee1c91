"""Release: the student bundle, build/student/ and build/student.zip, made from the kit's files.

What goes in: the student package learner/ as it is (its fixtures without which course document
each value was typed from), the stubs (generated from solutions/ as `make exercises` writes
them), the notebooks, the Makefile autograder/student.mk, and a manifest, pyproject.toml,
constraints.txt and README.md written for students from the kit's own. Nothing else: no
solutions, no hidden suites, no grading pipeline, no instructor tools; the build stops if the
student package imports any of them. `python -m autograder.release [--out DIR]`.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from learner import COMMANDS, manifest

from . import ROOT, stubs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# The make targets a student types, each with the student-package module its recipe runs.
LEARNER_COMMANDS: dict[str, str] = {name: f"learner.{name}" for name in COMMANDS}
MAKEFILE = "autograder/student.mk"  # the bundle's Makefile, copied as it is
# what the student notebooks import: their visible checks (make check's tests, in the notebook)
NOTEBOOK_MODULES = ("learner.notebook_checks",)
STUDENT_PACKAGE = "learner"  # copied as it is: the commands, the public tests, what they share
# what the student package may never import (the build stops instead)
FORBIDDEN = ("autograder", "solutions")
PACKAGES = ("learner", "autograder", "exercises", "solutions")  # the kit's own top-level packages
MANIFEST = "exercises.toml"  # written for students: without the instructors' fields
STUDENT_FIELDS = ("id", "module", "title", "points", "offlimits", "todo", "hints")
FIXTURES = "learner/public/fixtures"
# a fixture's provenance in the course documents, and the instructor's command that wrote it
INSTRUCTOR_KEYS = ("typed_from", "document", "generated_by", "command")
NOTEBOOKS = "notebooks"  # the bundle's folder of student notebooks, one per topic
STUDENT_DEPENDENCIES = ("torch", "numpy", "pytest", "tomli")  # taken, pinned, from pyproject.toml
STUDENT_EXTRAS = ("plot", "notebook")  # the kit's optional extras the student README mentions
STUDENTS_SECTION = "## For students"
GITIGNORE = (
    ".venv/",
    "__pycache__/",
    "*.egg-info/",
    ".pytest_cache/",
    ".ipynb_checkpoints/",
    ".attention-kit-state.json",
    "build/",  # make check PLOT=1 writes its pictures there
)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # every member's timestamp: the same files give the same zip


class ReleaseError(Exception):
    """The bundle cannot be built as asked (a forbidden import, a missing make target)."""


# ---- what goes in --------------------------------------------------------------------------


def _module_file(module: str, root: Path = ROOT) -> Path | None:
    """The file of a dotted module inside the kit, or None when it is not one of ours."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Kit modules `path` imports anywhere in its body (function-level imports too)."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import x`
    return {m for m in found if _module_file(m, root) is not None}


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def kit_files(root: Path = ROOT) -> list[Path]:
    """Every file of the student package, which goes into the bundle as it is; the build stops
    when one of its modules imports the instructor package or the solutions."""
    files = sorted(
        p
        for p in (root / STUDENT_PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    wanted = [*LEARNER_COMMANDS.values(), *NOTEBOOK_MODULES]
    missing = [m for m in wanted if _module_file(m, root) is None]
    if missing:
        raise ReleaseError(f"modules the bundle needs not found: {', '.join(missing)}")
    bad = sorted(
        f"{p.relative_to(root)} imports {m}"
        for p in files
        if p.suffix == ".py"
        for m in _imports(p, root)
        if _forbidden(m)
    )
    if bad:
        raise ReleaseError(
            f"the student package may not import the instructor package or the solutions: "
            f"{'; '.join(bad)}"
        )
    return files


# ---- files written for students ------------------------------------------------------------


def _dependencies(pyproject: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The kit's requirements for the packages students need, pins and markers as written,
    and its optional extras that students may install."""
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    required = [d for d in project["dependencies"] if _name(d) in STUDENT_DEPENDENCIES]
    optional = project.get("optional-dependencies", {})
    return required, {k: v for k, v in optional.items() if k in STUDENT_EXTRAS}


def _name(requirement: str) -> str:
    """`torch==2.13.0` -> `torch`; `Jinja2==3.1.6` -> `jinja2` (compared normalised)."""
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requires(package: str) -> set[str]:
    """Every package `package` needs, transitively, as installed here (all markers counted:
    a pin for a Python 3.10-only dependency must be there too)."""
    todo, seen = [package], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (another platform's dependency): nothing to follow
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def student_constraints(constraints: str, packages: Iterable[str]) -> str:
    """The kit's pins for `packages` and everything they pull in."""
    wanted = set().union(*(_requires(p) for p in packages))
    pins = [
        line
        for line in constraints.splitlines()
        if line.strip() and not line.startswith("#") and _name(line) in wanted
    ]
    header = "# Exact versions for `make` (pip -c); torch's pin is in pyproject.toml."
    return "\n".join([header, *pins]) + "\n"


def student_pyproject(dependencies: list[str], extras: dict[str, list[str]]) -> str:
    deps = "\n".join(f"    {json.dumps(d)}," for d in dependencies)  # a TOML basic string
    optional = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extras.items())
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "attention-kit-exercises"
version = "0.1.0"
description = "Exercises on self-attention, with `make check`."
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
{deps}
]

[project.optional-dependencies]
{optional}
[tool.setuptools]
packages = {{ find = {{ include = ["autograder*", "exercises*"] }} }}

[tool.setuptools.package-data]
autograder = ["public/fixtures/*.json"]
"""


def student_readme(kit_readme: str) -> str:
    """The kit README's section for students, under a title and the first steps."""
    start = kit_readme.find(STUDENTS_SECTION)
    if start < 0:
        raise ReleaseError(f"README.md has no {STUDENTS_SECTION!r} section")
    body = kit_readme[start + len(STUDENTS_SECTION) :]
    end = re.search(r"^## ", body, flags=re.MULTILINE)
    body = body[: end.start()] if end else body
    intro = [
        "# Self-attention exercises",
        "",
        f"{len(manifest.load())} exercises on self-attention, from dot-product scores to",
        "multi-head attention. Work in the files of `exercises/`, checked by `make check`, or",
        "in the notebooks of `notebooks/` (the same exercises with worked examples; the cell",
        f"under each answer checks it). Hand in the {len(manifest.modules())} files of the one",
        "you used, as your course says.",
        "",
        "## Getting started",
        "",
        "You need Python 3.10 or newer and `make` (Linux or macOS). In this folder, run",
        "`make check`: the first run creates `.venv` and installs PyTorch and pytest into it",
        '(a few minutes), then checks your exercises. Every exercise starts "not started".',
        "",
        "## Working on the exercises",
    ]
    return "\n".join(intro) + body.rstrip() + "\n"


def student_manifest(kit_manifest: Path) -> str:
    """exercises.toml as the learner commands need it: each exercise's STUDENT_FIELDS (no
    source documents, no comments naming the instructor's folders)."""
    with open(kit_manifest, "rb") as f:
        raw = tomllib.load(f)
    exercises = raw.get("exercise", [])
    out = ["# The exercises, in teaching order (make check, make hint and make reset read it)."]
    if raw.get(manifest.DROP):  # not part of this course: make check leaves them out too
        out += [f"{manifest.DROP} = {_toml(list(manifest.dropped(kit_manifest)))}"]
    for entry in exercises:
        out += ["", "[[exercise]]"]
        out += [f"{k} = {_toml(entry[k])}" for k in STUDENT_FIELDS if k in entry]
    return "\n".join(out) + "\n"


def _toml(value: object) -> str:
    """A TOML value: strings as JSON writes them (a TOML basic string), lists and tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        if any(isinstance(v, dict) for v in value):  # hints: one per line
            return "[\n" + "".join(f"  {_toml(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise ReleaseError(f"{MANIFEST}: cannot write {value!r} for students")


def student_fixture(data: bytes) -> bytes:
    """A public fixture without INSTRUCTOR_KEYS (which course document and cell a value was
    typed from, which instructor command wrote it): its values and their sources (book section,
    seed, torch version) as the student sees them in messages."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in INSTRUCTOR_KEYS}
        return value

    stripped = strip(json.loads(data))
    return (json.dumps(stripped, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# ---- building ------------------------------------------------------------------------------


def student_notebooks() -> dict[str, bytes]:
    """notebooks/<module>.ipynb: the student notebooks, as the notebook builder writes them."""
    from . import notebooks

    with tempfile.TemporaryDirectory(prefix="attention-kit-notebooks-") as tmp:
        written = notebooks.write_student(Path(tmp))
        return {f"{NOTEBOOKS}/{p.name}": p.read_bytes() for p in written}


def bundle_files(root: Path = ROOT) -> dict[str, bytes]:
    """Every file of the bundle: relative posix path -> contents."""
    files: dict[str, bytes] = {}
    for path in kit_files(root):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        files[rel] = student_fixture(data) if rel.startswith(f"{FIXTURES}/") else data
    for path, text in stubs.expected_stubs().items():
        files[path.relative_to(stubs.EXERCISES.parent).as_posix()] = text.encode("utf-8")
    files.update(student_notebooks())
    required, extras = _dependencies(root / "pyproject.toml")
    packages = [_name(d) for d in [*required, *(d for v in extras.values() for d in v)]]
    written = {
        "Makefile": (root / MAKEFILE).read_text(encoding="utf-8"),
        "pyproject.toml": student_pyproject(required, extras),
        "constraints.txt": student_constraints((root / "constraints.txt").read_text(), packages),
        "README.md": student_readme((root / "README.md").read_text(encoding="utf-8")),
        MANIFEST: student_manifest(root / MANIFEST),
        ".gitignore": "\n".join([*GITIGNORE, ""]),
    }
    files.update({k: v.encode("utf-8") for k, v in written.items()})
    return dict(sorted(files.items()))


def build(out: Path) -> tuple[Path, Path]:
    """Write the bundle to `out`/student/ (replacing it) and `out`/student.zip."""
    folder, archive = out / "student", out / "student.zip"
    files = bundle_files()
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    write_zip(archive, files, prefix="student/")
    return folder, archive


def write_zip(
    archive: Path, files: dict[str, bytes], *, prefix: str = "", modes: dict[str, int] | None = None
) -> None:
    """A zip of `files` under `prefix`, written beside `archive` then renamed over it."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files.items():
            info = zipfile.ZipInfo(prefix + rel, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((modes or {}).get(rel, 0o644) | 0o100000) << 16
            zf.writestr(info, data)
    tmp.replace(archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="default: build/")
    args = parser.parse_args(argv)
    try:
        folder, archive = build(args.out)
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"wrote {folder}/ ({count} files) and {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
