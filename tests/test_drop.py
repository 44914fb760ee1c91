"""exercises.toml's `drop = [...]` line: a dropped exercise is gone from every road (stubs, the
released bundle, make check, notebooks, autograde) and the other exercises keep their points."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_gradescope import gradescope_root, run_autograder

from autograder import ROOT
from learner import manifest

DROPPED = "gpt2_small_attention"  # nothing else calls it
WRAPPER = (
    "MultiHeadAttentionWrapper"  # made of CausalAttention heads; two_dimensional_wrapper builds one
)
KIT = [
    "learner",
    "autograder",
    "solutions",
    "exercises",
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
]
KIT_FILES = [*KIT, "README.md", "exercises.toml"]
TIMEOUT = 300  # seconds for one release, check or autograde run in a copy of the kit


def with_drop(tmp: Path, line: str) -> Path:
    """A copy of exercises.toml whose drop line is `line`, beside a link to solutions/."""
    tmp.mkdir(exist_ok=True)
    text = (ROOT / "exercises.toml").read_text(encoding="utf-8")
    assert "\ndrop = []\n" in text  # the one line an instructor edits
    (tmp / "exercises.toml").write_text(text.replace("\ndrop = []\n", f"\n{line}\n"))
    (tmp / "solutions").symlink_to(ROOT / "solutions")
    return tmp / "exercises.toml"


def drop_line_number() -> int:
    lines = (ROOT / "exercises.toml").read_text(encoding="utf-8").splitlines()
    return lines.index("drop = []") + 1


# ---- the line itself ---------------------------------------------------------------------------


def test_a_dropped_exercise_leaves_the_course(tmp_path: Path) -> None:
    path = with_drop(tmp_path, f'drop = ["{DROPPED}"]')
    taught = manifest.load(path)
    assert DROPPED not in [e.id for e in taught]
    assert len(taught) == len(manifest.curriculum()) - 1
    assert DROPPED in [e.id for e in manifest.curriculum(path)]
    # the others keep their points: the total is out of the remaining ones
    kept = {e.id: e.points for e in manifest.curriculum() if e.id != DROPPED}
    assert {e.id: e.points for e in taught} == kept


def test_a_typo_is_named_with_its_line(tmp_path: Path) -> None:
    path = with_drop(tmp_path, 'drop = ["gpt2_smal_attention"]')
    with pytest.raises(ValueError) as e:
        manifest.load(path)
    message = str(e.value)
    assert f"exercises.toml:{drop_line_number()}:" in message
    assert "'gpt2_smal_attention', which is not an exercise" in message
    assert f"did you mean '{DROPPED}'" in message


def test_not_a_list_is_refused(tmp_path: Path) -> None:
    path = with_drop(tmp_path, f'drop = "{DROPPED}"')
    with pytest.raises(ValueError, match=r"drop is a list of exercise ids"):
        manifest.load(path)


def test_a_drop_line_below_the_exercises_is_refused(tmp_path: Path) -> None:
    """TOML would make it a field of the last exercise, and nothing would be dropped."""
    path = with_drop(tmp_path, "")
    path.write_text(path.read_text() + f'drop = ["{DROPPED}"]\n')
    last = manifest.curriculum()[-1].id
    with pytest.raises(ValueError, match=rf"\({last}\) has a drop key: write the drop line above"):
        manifest.load(path)


def test_an_exercise_others_call_cannot_be_dropped(tmp_path: Path) -> None:
    """CausalAttention is what MultiHeadAttentionWrapper's heads are made of, and
    two_dimensional_wrapper builds a wrapper: each is refused while what calls it is taught."""
    for alone, caller in (("CausalAttention", WRAPPER), (WRAPPER, "two_dimensional_wrapper")):
        path = with_drop(tmp_path / alone, f'drop = ["{alone}"]')
        with pytest.raises(ValueError) as e:
            manifest.load(path)
        said = str(e.value)
        assert f"exercises.toml:{drop_line_number()}: {alone} cannot be dropped" in said
        assert caller in said
    # dropping the dependants with it is fine
    three = ("CausalAttention", WRAPPER, "two_dimensional_wrapper")
    path = with_drop(tmp_path / "three", f"drop = {json.dumps(list(three))}")
    assert set(three).isdisjoint(e.id for e in manifest.load(path))


def test_dependants_reads_the_reference_code() -> None:
    taught = list(manifest.curriculum())
    assert manifest.dependants("CausalAttention", taught, ROOT / "solutions") == [WRAPPER]
    assert manifest.dependants(WRAPPER, taught, ROOT / "solutions") == ["two_dimensional_wrapper"]
    assert manifest.dependants(DROPPED, taught, ROOT / "solutions") == []


def test_the_stub_has_no_definition_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder import stubs

    source = (ROOT / "solutions" / "multihead_attention.py").read_text()
    whole = stubs.stub_source(source)
    monkeypatch.setattr(manifest, "dropped", lambda path=None: (DROPPED,))
    stub = stubs.stub_source(source)
    assert f"def {DROPPED}" in whole and f"def {DROPPED}" not in stub
    assert f"TODO({DROPPED})" not in stub and "TODO(MultiHeadAttention)" in stub
    assert stubs.BEGIN not in stub and stubs.END not in stub
    # the neighbours' stubs are unchanged, and the module still compiles
    before = whole[: whole.index(f"def {DROPPED}")].rstrip()
    assert stub.rstrip() == before
    compile(stub, "multihead_attention.py", "exec")


# ---- every road, end to end, in a copy of the kit with the line ---------------------------------


def kit_copy(tmp: Path) -> Path:
    kit = tmp / "kit"
    kit.mkdir()
    for name in KIT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, kit / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, kit / name)
    text = (kit / "exercises.toml").read_text(encoding="utf-8")
    (kit / "exercises.toml").write_text(text.replace("\ndrop = []\n", f'\ndrop = ["{DROPPED}"]\n'))
    return kit


def run(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The kit's python on `cwd`'s own autograder package (cwd comes first on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**env, "PYTHONIOENCODING": "utf-8", **extra},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def dropped_kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the kit copy with the drop line, its released bundle)."""
    kit = kit_copy(tmp_path_factory.mktemp("drop"))
    stubs = run(kit, "-m", "autograder.stubs")
    assert stubs.returncode == 0, stubs.stderr[-3000:]
    release = run(kit, "-m", "autograder.release", "--out", str(kit / "build"))
    assert release.returncode == 0, release.stderr[-3000:]
    return kit, kit / "build" / "student"


@pytest.mark.slow
def test_stubs_and_bundle_leave_it_out(dropped_kit: tuple[Path, Path]) -> None:
    kit, bundle = dropped_kit
    for folder in (kit, bundle):
        stub = (folder / "exercises" / "multihead_attention.py").read_text()
        assert DROPPED not in stub.split('"""', 2)[-1]  # beyond the module docstring
        assert "class MultiHeadAttention(nn.Module):" in stub  # its neighbour stays
    # the bundle carries the line, so make check on a laptop honours it
    assert f'drop = ["{DROPPED}"]' in (bundle / "exercises.toml").read_text().splitlines()
    notebook = json.loads((bundle / "notebooks" / "multihead_attention.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert DROPPED not in code and "class MultiHeadAttention(" in code


@pytest.mark.slow
def test_make_check_in_the_bundle_counts_only_the_taught(dropped_kit: tuple[Path, Path]) -> None:
    """The reference code as the student's: every taught exercise passes, out of the points
    that remain, and the dropped one's tests are not run."""
    _, bundle = dropped_kit
    for path in (ROOT / "solutions").glob("*.py"):
        shutil.copy2(path, bundle / "exercises" / path.name)
    proc = run(bundle, "-m", "learner.check")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    taught = [e for e in manifest.curriculum() if e.id != DROPPED]
    total = sum(e.points for e in taught)
    assert f"{len(taught)}/{len(taught)} exercises, {total:g}/{total:g} points" in proc.stdout
    assert DROPPED not in proc.stdout
    assert "Every exercise passes." in proc.stdout
    alone = run(bundle, "-m", "learner.check", "--ex", DROPPED)
    assert alone.returncode != 0
    assert f"{DROPPED} is not part of this course" in alone.stderr


@pytest.mark.slow
def test_autograde_grades_without_it(dropped_kit: tuple[Path, Path], tmp_path: Path) -> None:
    kit, _ = dropped_kit
    subs = tmp_path / "submissions"
    shutil.copytree(ROOT / "examples" / "submissions" / "ada", subs / "ada")  # complete
    out = tmp_path / "out"
    proc = run(kit, "-m", "autograder.cli", "autograde", "--quiet", "--submissions", str(subs),
               "--out", str(out), "--seed", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        header = next(csv.reader(f))
    assert DROPPED not in header
    assert "MultiHeadAttention" in header
    grades = json.loads((out / "grades.json").read_text())
    points = {e.id: e.points for e in manifest.curriculum() if e.id != DROPPED}
    assert grades["max_points"] == points  # the others' points unchanged
    assert grades["students"]["ada"]["total"] == sum(points.values())


@pytest.mark.slow
def test_the_gradescope_zip_grades_without_it(
    dropped_kit: tuple[Path, Path], tmp_path: Path
) -> None:
    """The zip built from the kit with the line: the reference's upload scores every taught
    exercise at its usual points, and the dropped one is not a test."""
    kit, _ = dropped_kit
    build = run(kit, "-m", "autograder.gradescope", "build", "--out", str(tmp_path / "build"))
    assert build.returncode == 0, build.stderr[-3000:]
    root = gradescope_root(tmp_path, tmp_path / "build" / "autograder.zip")
    for path in (ROOT / "solutions").glob("*.py"):
        if path.name != "__init__.py":
            shutil.copy2(path, root / "submission" / path.name)
    doc, _ = run_autograder(root)
    points = {e.id: e.points for e in manifest.curriculum() if e.id != DROPPED}
    assert doc["score"] == sum(points.values())
    assert len(doc["tests"]) == len(points)
    assert not [t for t in doc["tests"] if DROPPED in t["name"]]
    assert sorted(t["max_score"] for t in doc["tests"]) == sorted(points.values())


@pytest.mark.slow
def test_nbgrader_grades_without_it(dropped_kit: tuple[Path, Path], tmp_path: Path) -> None:
    """The nbgrader course made from the kit with the line: no cell for the dropped exercise in
    the released notebook, and the reference notebooks score every taught exercise."""
    kit, _ = dropped_kit
    course_dir = tmp_path / "course"
    jupyter = {  # Jupyter's and IPython's folders of this test only; the copy's kit first
        name: str(tmp_path / "jupyter" / name.lower())
        for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR")
    }
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # alembic, kernels
    env = {**jupyter, "PYTHONPATH": str(kit), "PATH": path}
    made = run(kit, "-m", "autograder.notebooks.course", "--dest", str(course_dir), "--seed", "1",
               **env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    released = json.loads(
        (course_dir / "release" / "attention" / "multihead_attention.ipynb").read_text()
    )
    grade_ids = {c["metadata"].get("nbgrader", {}).get("grade_id") for c in released["cells"]}
    assert "MultiHeadAttention" in grade_ids
    assert not {g for g in grade_ids if g and g.startswith(f"{DROPPED}")}
    handed_in = course_dir / "submitted" / "ref" / "attention"
    shutil.copytree(course_dir / "source" / "attention", handed_in)
    for args in (("autograde", "attention"), ("export", "--to", str(tmp_path / "grades.csv"))):
        proc = run(course_dir, "-m", "nbgrader", *args, **env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    taught = sum(e.points for e in manifest.curriculum() if e.id != DROPPED)
    assert float(rows["ref"]["raw_score"]) == taught
    assert float(rows["ref"]["max_score"]) == taught
