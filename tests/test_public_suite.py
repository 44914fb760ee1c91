"""The public suite against the reference: it passes and covers every exercise (its speed is a
`make bench` figure: bench/public_suite.py)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT
from learner import manifest

PUBLIC = ROOT / "learner" / "public"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest"]

# A pytest plugin that writes one JSON record per public test: its exercise, outcome and time.
RECORDER = textwrap.dedent(
    """
    import json, os

    RECORDS = []

    def pytest_runtest_logreport(report):
        if report.when == "call" or report.failed:
            RECORDS.append({"nodeid": report.nodeid, "when": report.when,
                            "outcome": report.outcome, "duration": report.duration})

    def pytest_collection_modifyitems(items):
        for item in items:
            mark = item.get_closest_marker("exercise")
            doc = getattr(item, "function", None).__doc__ or ""
            RECORDS.append({"nodeid": item.nodeid, "when": "collect",
                            "exercise": mark.args[0] if mark else None, "doc": doc})

    def pytest_sessionfinish(session):
        with open(os.environ["PUBLIC_RECORDS"], "w") as f:
            json.dump(RECORDS, f)
    """
)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The public suite run once on solutions/, with per-test records."""
    tmp = tmp_path_factory.mktemp("public")
    (tmp / "public_records.py").write_text(RECORDER)
    records = tmp / "records.json"
    env = {
        **dict(os.environ),
        "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}",
        "PUBLIC_RECORDS": str(records),
    }
    proc = subprocess.run(
        [*PYTEST, str(PUBLIC), "--target=solutions", "-p", "public_records"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    data = json.loads(records.read_text()) if records.exists() else []
    return {
        "proc": proc,
        "collected": [r for r in data if r["when"] == "collect"],
        "ran": [r for r in data if r["when"] != "collect"],
    }


def test_every_solution_passes_every_public_test(reference_run: dict[str, Any]) -> None:
    """Does the reference pass every public test, with warnings as errors?"""
    proc = reference_run["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = [r["nodeid"] for r in reference_run["ran"] if r["outcome"] != "passed"]
    assert failed == []
    assert len(reference_run["ran"]) == len(reference_run["collected"]) > 0


def test_every_exercise_has_public_tests(reference_run: dict[str, Any]) -> None:
    """Does every exercise of the manifest have at least two public tests?"""
    counts = {e.id: 0 for e in manifest.load()}
    for record in reference_run["collected"]:
        counts[record["exercise"]] += 1
    assert {k: v for k, v in counts.items() if v < 2} == {}


def test_off_limits_exercises_check_the_code(reference_run: dict[str, Any]) -> None:
    """Does every exercise with off-limits groups have a public test that calls expect_own_code?"""
    checked = set()
    for path in PUBLIC.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "expect_own_code"
                and isinstance(node.args[1], ast.Constant)
            ):
                checked.add(node.args[1].value)
    assert checked == {e.id for e in manifest.load() if e.offlimits}


def test_public_tests_ask_their_question(reference_run: dict[str, Any]) -> None:
    """Does every public test's docstring start with the question it answers?"""
    unasked = [
        r["nodeid"]
        for r in reference_run["collected"]
        if not r["doc"].strip().splitlines()[0].endswith("?")
    ]
    assert unasked == []


def test_public_suite_needs_only_what_students_have() -> None:
    """Do the public files import only the standard library, numpy, torch, pytest and the
    student package?"""
    allowed = {"numpy", "torch", "pytest", "learner"} | set(sys.stdlib_module_names)
    used = set()
    for path in PUBLIC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    assert used - allowed == set()


def test_a_test_without_an_exercise_is_refused(tmp_path: Path) -> None:
    """Does the public conftest refuse a test that names no exercise?"""
    for name in ("conftest.py", "pytest.ini"):
        (tmp_path / name).write_text((PUBLIC / name).read_text())
    (tmp_path / "test_unmarked.py").write_text('def test_x():\n    """Is it marked?"""\n')
    proc = subprocess.run(
        [*PYTEST, str(tmp_path)],
        cwd=tmp_path,
        env={**dict(os.environ), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "test_unmarked.py::test_x: mark it with one exercise(id)" in proc.stdout + proc.stderr


def test_every_fixture_value_is_used() -> None:
    """Is every value in the fixture files read by a public test (no dead data)?"""
    readers = "\n".join(
        p.read_text(encoding="utf-8") for p in [*PUBLIC.glob("test_*.py"), PUBLIC / "scenarios.py"]
    )
    unused = [
        f"{path.name}: {key}"
        for path in sorted((PUBLIC / "fixtures").glob("*.json"))
        for key in json.loads(path.read_text())["values"]
        if f'"{key}"' not in readers
    ]
    assert unused == []


def test_a_wrong_mask_is_shown_against_the_expected_bools() -> None:
    """causal_mask with the diagonal: is the expected value shown as True/False (a bool is
    what is asked), and the first difference as booleans, not 0./1. floats?"""
    import torch

    from learner.mistakes import Case
    from learner.public.expect import expect_close

    got = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=0)
    wanted = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1).tolist()
    with pytest.raises(AssertionError) as failed:
        expect_close(got, wanted, what="causal_mask(4)", atol=0.0, case=Case("causal_mask", (4,)))
    message = str(failed.value)
    assert "expected: [[False,  True,  True,  True]," in message, message
    assert "first at [0, 0]: got True, expected False" in message, message
    assert "0., 1." not in message


def test_rows_are_numbered_from_zero_with_their_token() -> None:
    """Do the public messages about one row name it as Python indexes it, with its token
    ("row 1 (journey)"), as the heatmaps number their rows?"""
    from learner.public.expect import fixture

    tree = ast.parse((PUBLIC / "test_simple_attention.py").read_text(encoding="utf-8"))
    assigned = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    names = {
        "Q_JOURNEY": fixture("doc002_003_journey")["query_index"].value,
        "Q_CAT": fixture("doc004_cat_ran")["query_index"].value,
        "CAT_RAN": '"The cat ran"',
    }
    row = eval(compile(ast.Expression(assigned["ROW"]), "ROW", "eval"), {}, names)
    assert row == {"journey": "row 1 (journey)", '"The cat ran"': 'row 2 ("ran")'}
    from learner import heatmap

    drawn = heatmap.terminal([[1.0, 0.0], [0.5, 0.5]], ["journey", "starts"], unicode=False)
    assert drawn.splitlines()[2].startswith("  0 journey")
