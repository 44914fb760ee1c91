"""make bench's reporting: each figure judged against its target, and a JSON line for tracking.
(The timings themselves are never asserted: they live in `make bench`.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder import ROOT
from bench.figures import Figure, report


def test_a_figure_is_judged_on_the_side_of_its_target() -> None:
    """Is a lower-is-better figure met at or under its target only, and the reverse for higher?"""
    assert Figure("r", 1.5, 1.5).met is True
    assert Figure("r", 1.51, 1.5).met is False
    assert Figure("rate", 9.0, 10.0, higher_is_better=True).met is False
    assert Figure("rate", 10.0, 10.0, higher_is_better=True).met is True
    assert Figure("info", 3.0).met is None


def test_report_says_met_or_not_and_fails_on_a_miss(capsys: pytest.CaptureFixture[str]) -> None:
    """Does the report print each verdict, one JSON line, and exit 1 only when a target missed?"""
    assert report("b", [Figure("fast", 0.2, 0.5), Figure("ms", 12.0, unit="ms")]) == 0
    assert report("b", [Figure("slow", 0.7, 0.5)], as_json=True) == 1
    out = capsys.readouterr().out.splitlines()
    assert any("fast" in line and "(target <= 0.5: met)" in line for line in out)
    assert any("slow" in line and "NOT MET" in line for line in out)
    assert any(line.startswith("b (load average") for line in out)
    data = json.loads(out[-1])
    assert data["figures"]["slow"] == {"value": 0.7, "target": 0.5, "met": False}


@pytest.mark.slow
def test_public_suite_benchmark_runs_on_the_reference() -> None:
    """Does `python -m bench.public_suite --json` time the public tests and print its figure?"""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.public_suite", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    figure = json.loads(proc.stdout.splitlines()[-1])["figures"][
        "public tests' run time / import torch"
    ]
    assert figure["value"] > 0 and figure["target"] == 0.5
    assert figure["met"] == (figure["value"] <= 0.5)


@pytest.mark.slow
def test_autograde_benchmark_grades_and_prints_its_floor() -> None:
    """Does `python -m bench.autograde_throughput 2 --json` grade its batch and print its ratio
    to the floor with target 3, that ratio's two parts (the floor over import torch, the wall
    over import torch) in agreement with it, and the CPU each kind of process spent?"""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.autograde_throughput", "2", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    figures = json.loads(proc.stdout.splitlines()[-1])["figures"]
    ratio = figures["autograde wall / (N x floor / cores)"]
    assert ratio["value"] > 0 and ratio["target"] == 3.0
    assert ratio["met"] == (ratio["value"] <= 3.0)
    floor = figures["floor / import torch"]
    by_import = figures["autograde wall / (N x import torch / cores)"]
    assert floor["value"] > 0 and floor["target"] is None and by_import["target"] is None
    # wall / (N x floor / cores) = [wall / (N x import / cores)] / [floor / import]
    assert ratio["value"] == pytest.approx(by_import["value"] / floor["value"], rel=1e-6)
    assert figures["floor: a submission's requests answered"]["value"] > 0
    if sys.platform.startswith("linux"):  # read from /proc: each role spent some CPU
        for role in ("main process", "grading lanes", "sandboxes"):
            share = figures[f"CPU per submission / floor: {role}"]
            assert share["value"] > 0 and share["target"] is None, role
