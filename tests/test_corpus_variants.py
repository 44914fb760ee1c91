"""Correct but differently written submissions (tests/corpus/variant_*) pass `make check`.

Each variant folder holds exercises/<module>.py files and an expected.toml: `base` says where the
other modules come from ("solutions"), and `[points]` lists the exercises expected to lose
points (empty: full marks). The check runs on every variant in one subprocess, one after another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT
from learner import manifest
from tests.corpus_entries import expected_points, materialise, own_sources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow
CORPUS = Path(__file__).resolve().parent / "corpus"
VARIANTS = sorted(p.name for p in CORPUS.glob("variant_*"))
BASES = {"solutions": ROOT / "solutions", "stubs": ROOT / "exercises"}

# Runs check.main() for each workspace in turn, in one process, and prints the results as JSON.
DRIVER = """
import contextlib, io, json, os, sys
from learner import check

results = {}
for name, ws in json.loads(sys.argv[1]).items():
    for module in [m for m in sys.modules if m.split(".")[0] == "exercises"]:
        del sys.modules[module]
    os.chdir(ws)
    sys.path.insert(0, ws)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check.main([])
    sys.path.remove(ws)
    results[name] = {"code": code, "stdout": out.getvalue()}
print(json.dumps(results))
"""


def expectations(variant: str) -> dict[str, Any]:
    with open(CORPUS / variant / "expected.toml", "rb") as f:
        return tomllib.load(f)


def build(variant: str, tmp: Path) -> Path:
    """A workspace: the base modules, overlaid with the variant's own."""
    ws = tmp / variant
    materialise(CORPUS / variant, ws / "exercises", with_base=True)
    return ws


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("variants")
    workspaces = {v: str(build(v, tmp)) for v in VARIANTS}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(workspaces)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_there_are_variants() -> None:
    """Is the corpus of correct variants there, each with a well-formed expected.toml?"""
    assert len(VARIANTS) >= 8
    for variant in VARIANTS:
        expected = expectations(variant)
        assert expected["base"] in BASES
        assert isinstance(expected["points"], dict)
        assert set(expected["points"]) <= set(manifest.by_id())
        assert own_sources(CORPUS / variant), "a variant hands in at least one module"


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_gets_its_expected_marks(variant: str, results: dict[str, dict[str, Any]]) -> None:
    """Does `make check` pass every exercise the variant should get full marks for?"""
    expected = expected_points(CORPUS / variant)  # full, but for what its files do not define
    full = {e.id for e in manifest.load() if expected[e.id] == e.points}
    result = results[variant]
    done = {
        line.split()[1]
        for line in result["stdout"].splitlines()
        if line.startswith("  ") and line.split()[0] == "✓"
    }
    assert done == full, result["stdout"]
    assert (result["code"] == 0) == (full == set(manifest.by_id())), result["stdout"]
