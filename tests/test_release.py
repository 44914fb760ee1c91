"""The student release (`make release`): what is in build/student.zip, that nothing hidden is,
and that the bundle unpacked on its own bootstraps and runs `make check`.

"Hidden" is what lives only in solutions/ and autograder/hidden/: a solution body, a hidden
check's name, docstring or source line, a hidden data file's value. A line or name that the kit
also has outside those two folders (the public oracle computes softmax the same way; a public and
a hidden test may share a name) says nothing secret, so it is not counted; a line of fewer than
MIN_LINE characters (`)`, `return x`) is too common to mean anything.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import ROOT, release, stubs
from learner import manifest

MIN_LINE = 16  # characters, whitespace collapsed: shorter lines are too common to be a leak
MIN_DOCSTRING = 20
BOOTSTRAP_TIMEOUT = 1500  # seconds: a fresh .venv with torch from this machine's wheel
CHECK_TIMEOUT = 300
MODULES = manifest.modules()
SECRET = (ROOT / "solutions", ROOT / "autograder" / "hidden")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def norm(line: str) -> str:
    return " ".join(line.split())


# ---- what is secret, and what the kit already shows anyway ---------------------------------


def public_lines() -> set[str]:
    """Every line of the kit outside the secret folders: the package's other modules, the
    generated stubs, the manifest and README."""
    lines: set[str] = set()
    for path in [*(ROOT / "learner").rglob("*.py"), *(ROOT / "autograder").rglob("*.py")]:
        if not path.is_relative_to(SECRET[1]):
            lines |= {norm(x) for x in path.read_text(encoding="utf-8").splitlines()}
    for text in stubs.expected_stubs().values():
        lines |= {norm(x) for x in text.splitlines()}
    for name in ("exercises.toml", "README.md"):
        lines |= {norm(x) for x in (ROOT / name).read_text(encoding="utf-8").splitlines()}
    return lines


def public_names() -> set[str]:
    names: set[str] = set()
    for path in [*(ROOT / "learner").rglob("*.py"), *(ROOT / "autograder").rglob("*.py")]:
        if not path.is_relative_to(SECRET[1]):
            names |= set(re.findall(r"\w+", path.read_text(encoding="utf-8")))
    return names


def solution_lines() -> list[str]:
    """The lines between BEGIN and END SOLUTION in solutions/, meaningful and not public."""
    found = []
    for path in sorted((ROOT / "solutions").glob("*.py")):
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() == BEGIN:
                inside = True
            elif line.strip() == END:
                inside = False
            elif inside:
                found.append(norm(line))
    public = public_lines()
    return [x for x in found if len(x) >= MIN_LINE and x not in public]


def hidden_items() -> tuple[set[str], set[str], set[str]]:
    """(function and class names, docstrings, source lines) of autograder/hidden/, not public."""
    names, docs, lines = set(), set(), set()
    public, known = public_lines(), public_names()
    for path in sorted(SECRET[1].glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                if node.name not in known and len(node.name) > 6:
                    names.add(node.name)
                doc = ast.get_docstring(node)
                if doc and len(doc) >= MIN_DOCSTRING and norm(doc) not in public:
                    docs.add(norm(doc))
        lines |= {norm(x) for x in text.splitlines() if len(norm(x)) >= MIN_LINE}
    return names, docs, lines - public


def hidden_data_values() -> set[str]:
    """Every number or string in a data file under autograder/hidden/ (none today: the hidden
    suites draw their inputs from the run's seed); a new hidden fixture is covered here."""
    values: set[str] = set()
    for path in SECRET[1].rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            text = path.read_text(encoding="utf-8", errors="replace")
            values |= {v for v in re.findall(r"-?\d+\.\d{3,}|\w{12,}", text)}
    return values


# ---- reading the bundle --------------------------------------------------------------------


def unpack(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    return dest / "student"


def strings_of(path: Path) -> str:
    """A file's text; for JSON and notebooks, also every string inside, unescaped."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix in (".json", ".ipynb"):
        found: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(k)
                    walk(v)

        walk(json.loads(text))
        text += "\n" + "\n".join(found)
        if path.suffix == ".ipynb":  # a cell's source is a list of lines: join them too
            for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
                source = cell.get("source", "")
                text += "\n" + ("".join(source) if isinstance(source, list) else source)
    return text


def leaks(bundle: Path) -> list[str]:
    """Every secret found in any file of `bundle`, as `what: where`."""
    sol = solution_lines()
    names, docs, lines = hidden_items()
    data = hidden_data_values()
    found = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        text = strings_of(path)
        have = {norm(x) for x in text.splitlines()}
        flat = norm(text)
        words = set(re.findall(r"\w+", text))
        found += [f"solution line {x!r}: {rel}" for x in sol if x in have]
        found += [f"hidden source line {x!r}: {rel}" for x in lines if x in have]
        found += [f"hidden name {x}: {rel}" for x in names if x in words]
        found += [f"hidden docstring {x[:50]!r}: {rel}" for x in docs if x in flat]
        found += [f"hidden data value {x}: {rel}" for x in data if x in text]
    return found


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/student.zip as `make release` writes it, unpacked on its own."""
    tmp = tmp_path_factory.mktemp("release")
    _, archive = release.build(tmp / "build")
    return unpack(archive, tmp / "unpacked")


# ---- what is in it -------------------------------------------------------------------------


def test_secrets_are_collected() -> None:
    """Does the leak test have something to look for (so that a pass means something)?"""
    names, docs, lines = hidden_items()
    assert len(solution_lines()) > 50
    assert len(names) > 30 and len(docs) > 30 and len(lines) > 200
    assert "test_attention_scores_float64" in names  # a hidden check with no public namesake


def test_bundle_holds_what_students_need(bundle: Path) -> None:
    """Are the stubs, notebooks, public tests, fixtures, manifest, Makefile, pyproject and
    README there?"""
    for module in MODULES:
        assert (bundle / "exercises" / f"{module}.py").read_text() == stubs.stub_source(
            (ROOT / "solutions" / f"{module}.py").read_text(), f"{module}.py"
        )
        assert (bundle / "learner" / "public" / f"test_{module}.py").is_file()
        notebook = json.loads((bundle / "notebooks" / f"{module}.ipynb").read_text())
        assert notebook["nbformat"] == 4 and notebook["cells"]
    fixtures = sorted(p.name for p in (ROOT / "learner/public/fixtures").glob("*.json"))
    assert sorted(p.name for p in (bundle / "learner/public/fixtures").glob("*.json")) == fixtures
    for name in ("Makefile", "pyproject.toml", "constraints.txt", "README.md", "exercises.toml"):
        assert (bundle / name).is_file(), name
    # the student manifest: every exercise as the kit's, without the instructors' source field
    students = manifest.load.__wrapped__(bundle / "exercises.toml")
    kit = manifest.load()
    assert [dataclasses.replace(e, source="") for e in kit] == list(students)
    assert "source =" not in (bundle / "exercises.toml").read_text(encoding="utf-8")
    assert "check: $(READY)" in (bundle / "Makefile").read_text()


def test_bundle_leaves_the_instructor_side_out(bundle: Path) -> None:
    """No solutions/, hidden suites, grading pipeline, instructor tools or kit tests?"""
    paths = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}
    for prefix in ("solutions", "autograder/hidden", "autograder/grading", "tests", "examples"):
        assert not any(p == prefix or p.startswith(prefix + "/") for p in paths), prefix
    for tool in ("cli.py", "stubs.py", "redteam.py", "gradescope.py", "release.py"):
        assert f"autograder/{tool}" not in paths
    assert "autograder/make_fixtures.py" not in paths  # it imports solutions/


def test_nothing_hidden_leaks(bundle: Path) -> None:
    """Does no solution line, hidden check name, docstring, source line or hidden data value
    appear in any file of the bundle (notebooks and JSON read string by string)?"""
    assert leaks(bundle) == []


def test_the_leak_test_finds_planted_secrets(bundle: Path, tmp_path: Path) -> None:
    """Would a solution line in a stub, a hidden name in a notebook or a hidden docstring in the
    README be caught?"""
    line, name = solution_lines()[0], sorted(hidden_items()[0])[0]
    doc = sorted(hidden_items()[1])[0]
    planted = tmp_path / "planted"
    (planted / "exercises").mkdir(parents=True)
    (planted / "exercises" / "x.py").write_text(f"def f():\n    {line}\n")
    cell = {"cell_type": "code", "source": [f"def {name}():\n", "    pass\n"], "metadata": {}}
    (planted / "n.ipynb").write_text(json.dumps({"cells": [cell]}))
    (planted / "README.md").write_text(f"Intro.\n\n{doc}\n")
    found = leaks(planted)
    assert any(f.startswith("solution line") and f.endswith("exercises/x.py") for f in found)
    assert any(f.startswith(f"hidden name {name}:") and f.endswith("n.ipynb") for f in found)
    assert any(f.startswith("hidden docstring") and f.endswith("README.md") for f in found)


# Words of the instructor's side that mean nothing to a student (they have the book, the
# notebooks and the bundle): the course documents' file names and cells, the seed folder, the
# reference solutions and the commands that build the bundle.
INSTRUCTOR_WORDS = {
    "a course document's file name": r"\b\d{3}_[0-9a-f]{16}\b",
    "a course document's cell": r"\bIn\[\d+\]",
    "a course document's number": r"\b(documents?|doc) 0\d\d\b",
    "the course documents' folder": r"shared/seeds",
    "the solutions folder": r"\bsolutions/",
    "an instructor's command": r"\bmake (exercises|class|release|autograde|gradescope|nbgrader)\b",
    "an instructor's tool": r"\bpython -m autograder\b",
}


def instructor_words(bundle: Path) -> list[str]:
    """Every instructor-only word in any file of `bundle` (JSON and notebooks string by
    string), as `what: file: the line`."""
    found = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        text = strings_of(path)
        for what, pattern in INSTRUCTOR_WORDS.items():
            for m in re.finditer(pattern, text):
                line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end())]
                found.append(f"{what}: {path.relative_to(bundle).as_posix()}: {line.strip()}")
    return found


def test_no_instructor_word_reaches_the_bundle(bundle: Path) -> None:
    """Do the stubs, notebooks, fixtures, manifest, README and kit modules of the bundle name
    only what a student has: no course document file or cell, no solutions/, no make
    exercises?"""
    assert instructor_words(bundle) == []


def test_the_word_check_finds_a_planted_leak(tmp_path: Path) -> None:
    """Would a document name in a fixture's string, a cell in a notebook, solutions/ in a stub,
    `make exercises` in a module and an instructor tool's command in a fixture be caught, each
    in its file?"""
    planted = tmp_path / "planted"
    (planted / "exercises").mkdir(parents=True)
    (planted / "f.json").write_text(json.dumps({"v": {"source": "001_bbbf89231f1e3a78.txt"}}))
    cell = {"cell_type": "code", "source": ["x = 1\n", "# as In[7] prints\n"], "metadata": {}}
    (planted / "n.ipynb").write_text(json.dumps({"cells": [cell]}))
    (planted / "exercises" / "x.py").write_text("# Generated from solutions/x.py\n")
    (planted / "m.py").write_text('"""Run `make exercises` again."""\n')
    (planted / "g.json").write_text(json.dumps({"generated_by": "python -m autograder.x"}))
    found = instructor_words(planted)
    for what, where in [
        ("a course document's file name", "f.json"),
        ("a course document's cell", "n.ipynb"),
        ("the solutions folder", "exercises/x.py"),
        ("an instructor's command", "m.py"),
        ("an instructor's tool", "g.json"),
    ]:
        assert any(f.startswith(f"{what}: {where}: ") for f in found), (what, found)
    (planted / "clean.py").write_text('"""See book section 3.3.1 and notebooks/x.ipynb."""\n')
    assert not any("clean.py" in f for f in instructor_words(planted))


def test_bundle_imports_only_its_own_public_modules(bundle: Path) -> None:
    """Run in the bundle, do the check and the learner commands import only the bundle's files
    and nothing of the hidden suites, the grading pipeline or the solutions?"""
    commands = list(release.LEARNER_COMMANDS.values())
    probe = (
        "import importlib, json, sys\n"
        f"for name in {commands!r}: importlib.import_module(name)\n"
        "from learner import check\n"
        "code = check.main([])\n"
        "mods = {n: getattr(m, '__file__', None) for n, m in sys.modules.items()}\n"
        "print(json.dumps({'code': code, 'mods': mods}))\n"
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 1  # every exercise not started
    ours = {n: f for n, f in result["mods"].items() if n.split(".")[0] in release.PACKAGES}
    assert "learner.check" in ours and "exercises.simple_attention" in ours
    for name, file in ours.items():
        assert not name.startswith(("solutions", "autograder")), name
        assert file is None or Path(file).resolve().is_relative_to(bundle.resolve()), (name, file)


def test_student_pins_are_the_kits(bundle: Path) -> None:
    """Does the bundle pin torch==2.13.0 and take every other pin from the kit's
    constraints.txt, leaving out the kit's developer tools?"""
    kit = set((ROOT / "constraints.txt").read_text().splitlines())
    pins = [x for x in (bundle / "constraints.txt").read_text().splitlines() if x[:1] != "#"]
    assert pins and set(pins) <= kit
    names = {p.split("==")[0].lower() for p in pins}
    assert {"numpy", "pytest", "sympy"} <= names
    assert not names & {"ruff", "hypothesis", "sortedcontainers"}
    pyproject = (bundle / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pyproject
    assert "ruff" not in pyproject and "attention-kit =" not in pyproject


def test_student_readme_is_the_kits_section(bundle: Path) -> None:
    """Is the README's "For students" section in the bundle's README word for word?"""
    kit = (ROOT / "README.md").read_text(encoding="utf-8")
    section = kit.split("## For students", 1)[1].split("\n## ", 1)[0].strip()
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    assert section in readme
    assert "make check" in readme.split("## Working on the exercises")[0]
    assert "## For instructors" not in readme and "autograde" not in readme


def test_zip_is_the_folder(tmp_path: Path) -> None:
    """Does build/student.zip hold exactly build/student/, under one student/ folder?"""
    folder, archive = release.build(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    files = {
        f"student/{p.relative_to(folder).as_posix()}": p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }
    assert members == files


def test_a_forbidden_import_stops_the_build(tmp_path: Path) -> None:
    """Would a student-package module that imports the grading pipeline stop the build, with one
    line naming the file and the import?"""
    kit = tmp_path / "kit"
    (kit / "learner" / "public").mkdir(parents=True)
    (kit / "autograder" / "grading").mkdir(parents=True)
    (kit / "exercises.toml").write_text("")
    for rel in ("learner/__init__.py", "autograder/__init__.py", "autograder/grading/__init__.py"):
        (kit / rel).write_text("")
    (kit / "autograder" / "grading" / "suite.py").write_text("X = 1\n")
    for module in [*release.LEARNER_COMMANDS.values(), *release.NOTEBOOK_MODULES]:
        (kit / f"{module.replace('.', '/')}.py").write_text("")
    (kit / "learner" / "public" / "test_x.py").write_text("import learner.check\n")
    assert release.kit_files(kit)  # nothing forbidden yet
    (kit / "learner" / "check.py").write_text("from autograder.grading import suite\n")
    with pytest.raises(
        release.ReleaseError, match=r"learner/check\.py imports autograder\.grading"
    ):
        release.kit_files(kit)


# ---- the bundle on its own -----------------------------------------------------------------


@pytest.mark.slow
def test_bundle_bootstraps_and_checks(tmp_path: Path) -> None:
    """Unpacked alone, does `make check` create its .venv, install, and report every one of the
    exercises not started, the check exiting 1?"""
    _, archive = release.build(tmp_path / "build")
    student = unpack(archive, tmp_path / "alone")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )
    proc = subprocess.run(
        ["make", "check"],
        cwd=student,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        timeout=BOOTSTRAP_TIMEOUT,
    )
    # the check exits 1 (not everything passes); make reports that as its own exit code 2
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert re.search(r"\[Makefile:\d+: check\] Error 1$", proc.stderr, flags=re.MULTILINE)
    assert (student / ".venv" / ".ready").is_file()
    idle = {
        parts[1]
        for line in proc.stdout.splitlines()
        if line.startswith("  ") and len(parts := line.split()) > 1 and parts[0] == "·"
    }
    assert idle == {e.id for e in manifest.load()}  # every exercise, so as many as it holds
    assert f"0/{len(manifest.load())} exercises" in proc.stdout
    first = manifest.load()[0]  # a learner command in the bootstrapped bundle too
    hint = subprocess.run(
        ["make", "hint", f"EX={first.id}"],
        cwd=student,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )
    assert hint.returncode == 0, hint.stderr[-2000:]
    assert first.hints[0] in hint.stdout


def test_notebooks_open_with_make_notebook(bundle: Path, tmp_path: Path) -> None:
    """Does `make notebook` install the notebook extra (Jupyter, pinned) once and open the
    notebooks in JupyterLab, with build/ and Jupyter's checkpoints git-ignored, and does the
    README say how?"""
    bundle = Path(shutil.copytree(bundle, tmp_path / "student"))
    (bundle / ".venv").mkdir()
    (bundle / ".venv" / ".ready").touch()
    proc = subprocess.run(
        ["make", "-n", "notebook"], cwd=bundle, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert 'pip install --quiet -c constraints.txt -e ".[notebook]"' in proc.stdout
    assert ".venv/bin/jupyter lab notebooks/" in proc.stdout
    assert "notebook = [" in (bundle / "pyproject.toml").read_text()
    pins = (bundle / "constraints.txt").read_text()
    assert re.search(r"^jupyterlab==", pins, flags=re.MULTILINE), pins
    ignored = (bundle / ".gitignore").read_text().splitlines()
    assert "build/" in ignored and ".ipynb_checkpoints/" in ignored
    assert "make notebook" in (bundle / "README.md").read_text()
    assert (bundle / "learner" / "notebook_checks.py").is_file()


def test_learner_targets_run_their_modules(bundle: Path, tmp_path: Path) -> None:
    """Does the bundle's Makefile have every learner command, each running its kit module,
    once .venv is ready?"""
    bundle = Path(shutil.copytree(bundle, tmp_path / "student"))
    (bundle / ".venv").mkdir()
    (bundle / ".venv" / ".ready").touch()  # newer than pyproject.toml: no bootstrap
    proc = subprocess.run(
        ["make", "-n", *release.LEARNER_COMMANDS, "EX=softmax_stable"],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    for module in release.LEARNER_COMMANDS.values():
        assert f".venv/bin/python -m {module} --ex softmax_stable" in proc.stdout
    assert "pip install" not in proc.stdout


def _recipes(makefile: str) -> dict[str, list[str]]:
    """target -> its recipe lines, for every rule of a Makefile."""
    out: dict[str, list[str]] = {}
    target = None
    for line in makefile.splitlines():
        rule = re.match(r"([\w$().-]+)\s*:(?!=)", line)
        if rule and not line.startswith("\t"):
            target = rule.group(1)
            out[target] = []
        elif line.startswith("\t") and target is not None:
            out[target].append(line)
        else:
            target = None
    return out


def test_the_bundle_makefile_is_the_template_with_the_kits_recipes(bundle: Path) -> None:
    """Is the bundle's Makefile autograder/student.mk byte for byte, and does each student
    command run there exactly as `make <command>` runs it in the kit?"""
    template = (ROOT / release.MAKEFILE).read_text(encoding="utf-8")
    assert (bundle / "Makefile").read_text(encoding="utf-8") == template
    kit, student = _recipes((ROOT / "Makefile").read_text()), _recipes(template)
    assert [*release.LEARNER_COMMANDS, "notebook"] == [
        t for t in student if t not in (".PHONY", "help", "$(READY)", "$(VENV)/.notebook")
    ]
    for command in release.LEARNER_COMMANDS:
        assert student[command] == kit[command], command
    assert "-e .\n" in template and ".[dev]" not in template  # no developer tools for students
