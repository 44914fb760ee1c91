"""Release: the student bundle, build/student/ and build/student.zip, made from the kit's files.

What goes in: the stubs (generated from solutions/ as `make exercises` writes them), the public
tests and fixtures (without which course document each value was typed from), the learner
commands' modules with every kit module they import (found by reading their imports), and a
manifest, Makefile, pyproject.toml, constraints.txt and README.md written for students from the
kit's own. Nothing else: no solutions, no hidden suites,
no grading pipeline, no instructor tools. `python -m autograder.release [--out DIR]`.
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

from . import ROOT, manifest, stubs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# The make targets a student types, each with the kit module its recipe runs. The recipe and the
# module's imports come from the kit: a new learner command is one line here.
LEARNER_COMMANDS: dict[str, str] = {
    "check": "autograder.check",
    "watch": "autograder.watch",
    "hint": "autograder.hint",
    "reset": "autograder.reset",
}
# what the student notebooks import: their visible checks (make check's tests, in the notebook)
NOTEBOOK_MODULES = ("autograder.notebook_checks",)
PUBLIC_TESTS = "autograder/public"  # all of it (pytest collects it), but:
INSTRUCTOR_ONLY = ("autograder/public/make_fixtures.py",)  # regenerates fixtures from solutions/
# never in the bundle, whatever imports them (the build stops instead)
FORBIDDEN = ("solutions", "autograder.hidden", "autograder.grading", "autograder.cli")
PACKAGES = ("autograder", "exercises", "solutions")  # the kit's own top-level packages
MANIFEST = "exercises.toml"  # written for students: without the instructors' fields
STUDENT_FIELDS = ("id", "module", "title", "points", "offlimits", "todo", "hints")
FIXTURES = "autograder/public/fixtures"
INSTRUCTOR_KEYS = ("typed_from", "document")  # a fixture's provenance in the course documents
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
# `make notebook`, a student-only target: Jupyter installed on first use, then the notebooks
NOTEBOOK_RULES = [
    "$(VENV)/.notebook: $(READY)",
    '\t$(BIN)/pip install --quiet -c constraints.txt -e ".[notebook]"',
    "\t@touch $@",
    "",
    "notebook: $(VENV)/.notebook",
    "\t$(BIN)/jupyter lab notebooks/",
]
NOTEBOOK_HELP = (
    '\t@echo "              make notebook   (the same exercises as notebooks, in Jupyter)"'
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


def closure(roots: Iterable[Path], root: Path = ROOT) -> set[Path]:
    """`roots`, every kit module they import, transitively, and the packages holding them."""
    todo, seen = list(roots), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        name = _module_name(path, root)
        parents = name.split(".")
        packages = (root.joinpath(*parents[:i], "__init__.py") for i in range(1, len(parents)))
        todo += [p for p in packages if p.is_file()]
        for module in _imports(path, root):
            file = _module_file(module, root)
            assert file is not None
            todo.append(file)
    return seen


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def kit_files(root: Path = ROOT) -> list[Path]:
    """The kit's files that go into the bundle as they are (the stubs are generated apart)."""
    public = sorted(
        p
        for p in (root / PUBLIC_TESTS).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    skip = {root / p for p in INSTRUCTOR_ONLY}
    public = [p for p in public if p not in skip]
    wanted = [*LEARNER_COMMANDS.values(), *NOTEBOOK_MODULES]
    modules = [_module_file(m, root) for m in wanted]
    missing = [m for m, f in zip(wanted, modules, strict=True) if f is None]
    if missing:
        raise ReleaseError(f"modules the bundle needs not found: {', '.join(missing)}")
    roots = [p for p in [*modules, *public] if p is not None and p.suffix == ".py"]
    code = closure(roots, root)
    bad = sorted(_module_name(p, root) for p in code if _forbidden(_module_name(p, root)))
    if bad:
        raise ReleaseError(
            f"the student bundle would need {', '.join(bad)}: the learner commands and public "
            "tests may import only public kit modules"
        )
    stubs_dir = root / "exercises"
    code = {p for p in code if p.parent != stubs_dir}  # the stubs are written fresh below
    return sorted({*code, *public})


# ---- files written for students ------------------------------------------------------------


def _recipe(makefile: str, target: str) -> list[str]:
    """The recipe lines (tab-indented) of `target` in the kit's Makefile."""
    lines = makefile.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"{re.escape(target)}\s*:(?!=)", line):
            recipe = []
            for body in lines[i + 1 :]:
                if not body.startswith("\t"):
                    break
                recipe.append(body)
            return recipe
    raise ReleaseError(f"the kit's Makefile has no target {target!r} for the student bundle")


def _variables(makefile: str, used: str) -> list[str]:
    """The kit Makefile's variable lines that `used` (recipes and the bootstrap) refers to,
    following references between variables."""
    defined = {}
    for line in makefile.splitlines():
        match = re.match(r"([A-Z_]+)\s*(\?=|:=|=)", line)
        if match and not line.startswith("\t"):
            defined.setdefault(match.group(1), line)
    wanted, todo = set(), re.findall(r"\$\((\w+)\)", used)
    while todo:
        name = todo.pop()
        if name in defined and name not in wanted:
            wanted.add(name)
            todo += re.findall(r"\$\((\w+)\)", defined[name])
    return [line for name, line in defined.items() if name in wanted]


def student_makefile(kit_makefile: str) -> str:
    """The student Makefile: the kit's bootstrap without the dev extras, the learner targets
    with the kit's recipes and the variables they use."""
    targets = list(LEARNER_COMMANDS)
    helps = [
        line
        for line in _recipe(kit_makefile, "help")
        if "Students:" in line or any(f"make {t} " in f"{line} " for t in targets[1:])
    ]
    bootstrap = [
        "$(READY): pyproject.toml constraints.txt",
        "\t$(PYTHON) -m venv $(VENV)",
        '\t$(BIN)/pip install --quiet --upgrade "pip>=23"',
        "\t$(BIN)/pip install --quiet -c constraints.txt -e .",
        "\t@touch $@",
    ]
    rules = []
    for target in targets:
        rules += ["", f"{target}: $(READY)", *_recipe(kit_makefile, target)]
    rules += ["", *NOTEBOOK_RULES]
    used = "\n".join([*bootstrap, *rules])
    out = [
        "# Your exercises: `make check` (the first run creates .venv and installs what it needs).",
        *_variables(kit_makefile, used),
        "",
        f".PHONY: help {' '.join(targets)} notebook",
        "",
        "help:",
        *helps,
        NOTEBOOK_HELP,
        "",
        *bootstrap,
        *rules,
    ]
    return "\n".join(out) + "\n"


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
    typed from): its values and their sources as the student sees them in messages."""

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
    kit_makefile = (root / "Makefile").read_text(encoding="utf-8")
    required, extras = _dependencies(root / "pyproject.toml")
    packages = [_name(d) for d in [*required, *(d for v in extras.values() for d in v)]]
    written = {
        "Makefile": student_makefile(kit_makefile),
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
