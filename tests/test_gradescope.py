"""`make gradescope` end to end: build/autograder.zip unpacked into a temp root laid out like
Gradescope's /autograder, a submission uploaded as students upload it, run_autograder run as
Gradescope runs it (with the kit's environment on PATH, as after setup.sh), and results.json
checked against Gradescope's schema and against `attention-kit autograde` on the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from test_autograde_cli import autograde

from autograder import ROOT, gradescope
from learner import manifest
from tests import corpus_entries

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow

SEED = 20261201
RUN_TIMEOUT = 240  # seconds for one run_autograder or one small autograde run
CORPUS = ROOT / "tests" / "corpus"
MODULES = manifest.modules()
POINTS = {e.id: e.points for e in manifest.load()}
TOTAL = sum(POINTS.values())  # from the manifest, not written out
# Gradescope's results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/
GRADESCOPE_VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
BUILD = [sys.executable, "-m", "autograder.gradescope", "build"]  # what `make gradescope` runs
KIT_BIN = str(Path(sys.executable).parent)  # the kit's venv: python3 there has the kit


# ---- submissions, as the corpus describes them ---------------------------------------------


def corpus_sources(entry: str) -> tuple[dict[str, str], dict[str, float]]:
    """A corpus entry's module sources and its expected points per exercise."""
    with open(CORPUS / entry / "expected.toml", "rb") as f:
        spec = tomllib.load(f)
    base = {"solutions": ROOT / "solutions", "exercises": ROOT / "exercises"}.get(spec["base"])
    sources = {}
    for folder in (base, CORPUS / entry / "exercises"):
        if folder is not None:
            for m in MODULES:
                if (folder / f"{m}.py").is_file():
                    sources[m] = (folder / f"{m}.py").read_text()
    sources |= corpus_entries.sources(CORPUS / entry)  # modules stored as edits of the base
    return sources, corpus_entries.expected_points(CORPUS / entry)


def write_modules(folder: Path, sources: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for module, text in sources.items():
        (folder / f"{module}.py").write_text(text)


# ---- a Gradescope root ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/autograder.zip as `make gradescope` writes it."""
    return gradescope.build(tmp_path_factory.mktemp("build"))


def gradescope_root(tmp: Path, archive: Path) -> Path:
    """tmp/autograder with source/ (the zip unpacked), submission/ and results/, and
    run_autograder copied to the top as Gradescope does when it builds the image."""
    root = tmp / "autograder"
    for name in ("source", "submission", "results"):
        (root / name).mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    return root


def run_autograder(
    root: Path, *, path: str | None = None, **env: str
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """`bash /autograder/run_autograder` from /autograder; returns results.json and the run."""
    full = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "AUTOGRADER_ROOT": str(root),
        "PATH": path if path is not None else f"{KIT_BIN}{os.pathsep}{os.environ['PATH']}",
        gradescope.SEED_ENV: str(SEED),
        **env,
    }
    proc = subprocess.run(
        ["/bin/bash", str(root / "run_autograder")],
        cwd=root,
        env=full,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(results.read_text()), proc


def assert_schema(doc: dict[str, Any]) -> None:
    """Gradescope's fields, with their types; scores add up."""
    number = (int, float)
    assert isinstance(doc["score"], number) and not isinstance(doc["score"], bool)
    assert isinstance(doc["execution_time"], number) and doc["execution_time"] >= 0
    assert isinstance(doc.get("output", ""), str)
    assert isinstance(doc["tests"], list)
    for key in ("visibility", "stdout_visibility"):
        if key in doc:
            assert doc[key] in GRADESCOPE_VISIBILITIES
    for test in doc["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], number) and isinstance(test["max_score"], number)
        assert 0 <= test["score"] <= test["max_score"]
        assert isinstance(test["output"], str)
        assert test["visibility"] in GRADESCOPE_VISIBILITIES
        assert test.get("status", "passed") in ("passed", "failed")
    assert abs(sum(t["score"] for t in doc["tests"]) - doc["score"]) < 1e-6


def scores(doc: dict[str, Any]) -> dict[str, float]:
    """Points per exercise id, from the tests' names (`<id>: <title>`)."""
    return {t["name"].split(":", 1)[0]: float(t["score"]) for t in doc["tests"]}


# ---- the same submissions through both roads -----------------------------------------------

# name -> (corpus entry, how it is uploaded); "notebook" entries hand in the notebooks with
# every answer cell written (the instructor's notebooks: the answers are the reference's)
CASES = {
    "reference": ("reference", "loose"),  # the five .py files
    "mistake": ("mistake_no_scaling", "folder"),  # exercises/<module>.py
    "partial": ("partial_simple_only", "nested"),  # repo/student/exercises/<module>.py
    "notebooks": ("reference", "notebooks"),  # the five .ipynb
    "repository": ("reference", "repository"),  # the whole release, work done in the notebooks
    "broken_cell": ("reference", "broken_cell"),  # the five .ipynb, one answer cell not parsing
}
LOST = {"broken_cell": {"SelfAttention_v2": 0.0}}  # case -> points it loses against its entry
BROKEN_SOURCE = "class SelfAttention_v2(nn.Module:\n    pass\n"


def write_notebooks(folder: Path, how: str) -> None:
    """The reference notebooks in `folder`; for "broken_cell", SelfAttention_v2's answer cell
    does not parse."""
    from autograder import notebooks

    notebooks.write_source(folder)
    if how != "broken_cell":
        return
    path = folder / "trainable_attention.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "SelfAttention_v2":
            cell["source"] = BROKEN_SOURCE
    path.write_text(json.dumps(nb))


def upload(submission: Path, sources: dict[str, str], how: str) -> None:
    if how in ("notebooks", "repository", "broken_cell"):
        write_notebooks(submission / ("notebooks" if how == "repository" else ""), how)
        if how == "repository":  # the untouched .py stubs beside them
            write_modules(submission / "exercises", corpus_sources("stubs")[0])
        return
    folder = {
        "loose": submission,
        "folder": submission / "exercises",
        "nested": submission / "repo" / "student" / "exercises",
    }[how]
    write_modules(folder, sources)
    if how == "nested":
        (submission / "repo" / "README.md").write_text("my attention homework\n")


@pytest.fixture(scope="module")
def autograde_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`attention-kit autograde` on every case at once, with the same seed: its OUT."""
    tmp = tmp_path_factory.mktemp("cli")
    for student, (entry, how) in CASES.items():
        if how in ("notebooks", "repository", "broken_cell"):  # <student>/<module>.ipynb
            write_notebooks(tmp / "submissions" / student, how)
        else:
            write_modules(tmp / "submissions" / student / "exercises", corpus_sources(entry)[0])
    proc = autograde(tmp / "submissions", tmp / "out", seed=SEED, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "out"


@pytest.mark.parametrize("case", sorted(CASES))
def test_results_match_autograde(
    case: str, archive: Path, autograde_results: Path, tmp_path: Path
) -> None:
    """Does run_autograder give each exercise the corpus's expected points, exactly the points
    `attention-kit autograde` gives the same files, in Gradescope's schema?"""
    entry, how = CASES[case]
    sources, expected = corpus_sources(entry)
    expected |= LOST.get(case, {})
    root = gradescope_root(tmp_path, archive)
    upload(root / "submission", sources, how)
    doc, proc = run_autograder(root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_schema(doc)
    cli = json.loads((autograde_results / "results" / f"{case}.json").read_text())
    assert scores(doc) == scores(cli) == expected
    assert doc["score"] == cli["score"] == sum(expected.values())
    grades = json.loads((autograde_results / "grades.json").read_text())
    assert grades["students"][case]["total"] == doc["score"]
    assert [t["name"] for t in doc["tests"]] == [t["name"] for t in cli["tests"]]
    assert f"seed {SEED}" in proc.stdout  # the instructor's log says how it was graded
    if case == "broken_cell":  # the student is told which cell, in their notebook's words
        assert "(SelfAttention_v2) does not parse (line 1 of that cell" in doc["output"]
        assert "exercises/trainable_attention.py" not in json.dumps(doc)


def test_reference_earns_full_marks_with_hidden_details_after_publishing(
    archive: Path, tmp_path: Path
) -> None:
    """Do the reference's loose .py files get 100, one test per exercise, each hidden check's
    details held until the grades are published (the submission's own output shown at once),
    and the grader's log hidden from students?"""
    root = gradescope_root(tmp_path, archive)
    write_modules(root / "submission", corpus_sources("reference")[0])
    doc, _ = run_autograder(root)
    assert_schema(doc)
    assert doc["score"] == TOTAL
    assert len(doc["tests"]) == len(POINTS)
    assert {t["visibility"] for t in doc["tests"]} == {"after_published"}
    assert doc["visibility"] == "visible"  # the upload's problems are shown at once
    assert doc["stdout_visibility"] == "hidden"
    assert all(t["score"] == t["max_score"] for t in doc["tests"])


def test_visibility_comes_from_the_zip_or_the_environment(tmp_path: Path) -> None:
    """Does `gradescope build --visibility after_due_date` set the hidden checks' visibility,
    and ATTENTION_KIT_VISIBILITY override it?"""
    proc = subprocess.run(
        [*BUILD, "--out", str(tmp_path / "b"), "--visibility", "after_due_date"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    root = gradescope_root(tmp_path, tmp_path / "b" / "autograder.zip")
    write_modules(root / "submission", corpus_sources("mistake_no_scaling")[0])
    doc, _ = run_autograder(root)
    assert {t["visibility"] for t in doc["tests"]} == {"after_due_date"}
    doc, _ = run_autograder(root, **{gradescope.VISIBILITY_ENV: "visible"})
    assert {t["visibility"] for t in doc["tests"]} == {"visible"}
    failed = [t for t in doc["tests"] if t["score"] < t["max_score"]]
    assert [t["name"].split(":")[0] for t in failed] == ["self_attention_numpy"]
    assert failed[0]["output"].strip()  # what went wrong, in words


def test_unknown_visibility_is_refused(tmp_path: Path) -> None:
    """Is a misspelt visibility one line and exit code 2, with no zip written?"""
    proc = subprocess.run(
        [*BUILD, "--out", str(tmp_path), "--visibility", "after_publish"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "after_publish" in proc.stderr and "after_published" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "autograder.zip").exists()


# ---- bad uploads and a broken grader still give a results.json -----------------------------


def test_a_notebook_only_upload_says_what_to_hand_in(archive: Path, tmp_path: Path) -> None:
    """Is an upload with no exercise module a valid results.json scoring 0 whose output names
    the files to hand in?"""
    root = gradescope_root(tmp_path, archive)
    (root / "submission" / "homework.txt").write_text("I did it all in my head\n")
    doc, proc = run_autograder(root)
    assert proc.returncode == 0
    assert_schema(doc)
    assert doc["score"] == 0
    for module in MODULES:
        assert f"exercises/{module}.py is missing" in doc["output"]


def test_a_packed_zip_is_opened(archive: Path, tmp_path: Path) -> None:
    """Is a zip upload left packed graded like the files inside it?"""
    root = gradescope_root(tmp_path, archive)
    with zipfile.ZipFile(root / "submission" / "attention.zip", "w") as zf:
        for module, text in corpus_sources("mistake_no_scaling")[0].items():
            zf.writestr(f"attention/exercises/{module}.py", text)
    doc, _ = run_autograder(root)
    assert_schema(doc)
    assert scores(doc) == corpus_sources("mistake_no_scaling")[1]


def test_an_oversized_file_is_left_out_and_said(archive: Path, tmp_path: Path) -> None:
    """Is a huge file beside the modules skipped with a line, the modules still graded?"""
    root = gradescope_root(tmp_path, archive)
    write_modules(root / "submission", corpus_sources("reference")[0])
    with open(root / "submission" / "weights.bin", "wb") as f:
        f.truncate(gradescope.MAX_COPY_FILE_BYTES + 1)
    doc, _ = run_autograder(root)
    assert doc["score"] == TOTAL
    assert "weights.bin is over 5 MB: not read" in doc["output"]


def test_a_grader_fault_is_a_results_json_saying_so(archive: Path, tmp_path: Path) -> None:
    """With the reference solutions broken in the zip, is results.json still written, scoring
    0, telling the student it is not their code, the traceback in the instructor's log?"""
    root = gradescope_root(tmp_path, archive)
    reference = root / "source" / "solutions" / "simple_attention.py"
    reference.write_text(
        reference.read_text().replace(
            "### BEGIN SOLUTION", "### BEGIN SOLUTION\n    return None", 1
        )
    )
    write_modules(root / "submission", corpus_sources("reference")[0])
    doc, proc = run_autograder(root)
    assert proc.returncode == 0
    assert_schema(doc)
    assert doc["score"] == 0 and doc["tests"] == []
    assert doc["output"] == gradescope.GRADER_FAULT
    assert "Traceback" in proc.stderr


def test_no_python_still_gives_a_results_json(archive: Path, tmp_path: Path) -> None:
    """If python3 cannot even start, does run_autograder itself write a valid results.json?"""
    root = gradescope_root(tmp_path, archive)
    doc, _ = run_autograder(root, path=str(tmp_path / "no-such-bin"))
    assert_schema(doc)
    assert doc["output"] == gradescope.GRADER_FAULT


# ---- the zip itself ------------------------------------------------------------------------


def test_zip_holds_the_grader_and_its_scripts(archive: Path) -> None:
    """Are setup.sh and run_autograder at the zip's root and executable, with the kit's
    source, solutions and hidden suites beside them and no caches?"""
    with zipfile.ZipFile(archive) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) & 0o111, script
    for name in ("exercises.toml", "pyproject.toml", "constraints.txt", "README.md"):
        assert name in infos
    for module in MODULES:
        assert f"solutions/{module}.py" in infos
        assert f"autograder/hidden/test_{module}.py" in infos
    assert "autograder/grading/batch.py" in infos
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in infos)
    assert not any(n.startswith(("tests/", "examples/", ".venv/")) for n in infos)


def test_setup_sh_installs_pinned_cpu_torch_and_the_kit(archive: Path, tmp_path: Path) -> None:
    """Is setup.sh valid bash that installs torch==2.13.0 from PyTorch's CPU index and the kit
    with constraints.txt, never asking for an unpinned torch?"""
    with zipfile.ZipFile(archive) as zf:
        text = zf.read("setup.sh").decode()
    (tmp_path / "setup.sh").write_text(text)
    assert subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")]).returncode == 0
    installs = [x for x in text.splitlines() if " install " in x and "pip" in x]
    torch = [x for x in installs if "torch" in x]
    assert len(torch) == 1
    assert '"torch==2.13.0+cpu"' in torch[0] and "https://download.pytorch.org/whl/cpu" in torch[0]
    assert "--no-deps" in torch[0]  # its dependencies come pinned, with the kit's
    kit = [x for x in installs if x.rstrip().endswith(" .") or x.rstrip().endswith("-e .")]
    assert len(kit) == 1 and "-c constraints.txt" in kit[0]
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


def test_secrets_are_locked_where_the_kit_runs_from_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root with the kit installed in $ROOT/source, are the solutions and the hidden suites
    made readable by root alone (a worker in basic mode is another uid), and is a kit installed
    elsewhere (a developer's checkout) left as it is?"""
    if os.geteuid() != 0:
        pytest.skip("the lock is for run_autograder as root")
    kit = tmp_path / "source"
    for folder in (kit / "solutions", kit / "autograder" / "hidden"):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    assert gradescope.lock_secrets(tmp_path) == []  # the kit under test lives elsewhere
    monkeypatch.setattr(gradescope, "ROOT", kit)
    locked = gradescope.lock_secrets(tmp_path)
    assert locked == [kit / "solutions", kit / "autograder" / "hidden"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in locked)


def test_only_what_collection_found_is_shown_at_once(archive: Path, tmp_path: Path) -> None:
    """Does the always-visible top-level output hold what collection found (a file whose name is
    not UTF-8 beside the modules, which must not read as a grader failure), while the message of
    an exception the student's module raised on import (it could carry the hidden inputs) is only
    in the tests it cost, which follow the hidden checks' visibility?"""
    root = gradescope_root(tmp_path, archive)
    sources = corpus_sources("reference")[0]
    secret = "recorded hidden input 0.271828"
    sources["trainable_attention"] += f"\nraise RuntimeError({secret!r})\n"
    write_modules(root / "submission", sources)
    (root / "submission" / os.fsdecode(b"notes\xff.py")).write_text("# my notes\n")
    doc, proc = run_autograder(root)
    assert proc.returncode == 0
    assert_schema(doc)
    assert doc["visibility"] == "visible"
    assert doc["output"] == (
        "Problems with your submission:\n"
        "- 1 file whose name is not UTF-8 text not read: notes\\xff.py: rename it with plain "
        "letters"
    )
    assert gradescope.GRADER_FAULT not in doc["output"]
    trainable = {e.id for e in manifest.load() if e.module == "trainable_attention"}
    for test in doc["tests"]:
        exercise = test["name"].split(":", 1)[0]
        if exercise in trainable:
            assert secret in test["output"] and test["score"] == 0
            assert test["visibility"] == gradescope.DEFAULT_VISIBILITY
        else:
            assert secret not in test["output"] and test["score"] == test["max_score"]
    assert doc["score"] == TOTAL - sum(POINTS[e] for e in trainable)


def test_a_submission_whose_grading_stopped_twice_says_the_grader_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the batch saved the student unfinished (its lane died twice), does results.json say
    the autograder failed, in the kit's words only, beside what collection found?"""
    from autograder.grading import batch, record
    from autograder.grading.model import Submission

    def stopped_twice(submissions: Path, out: Path, **_: Any) -> batch.BatchSummary:
        sub = Submission(gradescope.STUDENT, submissions / gradescope.STUDENT, digest="d")
        book = record.Gradebook(out / "gradebook.sqlite")
        book.save(batch.unfinished(sub, SEED, "raised ValueError: student-chosen words"))
        book.close()
        return batch.BatchSummary(1, 1, 0, "root", SEED)

    monkeypatch.setattr(batch, "autograde", stopped_twice)
    root = tmp_path / "autograder"
    write_modules(root / "submission", corpus_sources("reference")[0])
    doc = gradescope.grade(root, visibility="after_published", seed=SEED)
    assert doc["score"] == 0
    assert doc["output"] == f"Problems with your submission:\n- {gradescope.GRADER_FAULT}"
    assert "student-chosen words" not in json.dumps(doc)
