"""`make check` draws the attention weights: the terminal heatmap, and PLOT=1's PNG, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_check_cli import workspace
from test_heatmap import png_size

from autograder import ROOT
from learner import attention_maps

pytestmark = pytest.mark.slow

DIM0 = {  # all_attention_weights normalises the columns instead of the rows
    "simple_attention": (
        "torch.softmax(all_attention_scores(inputs), dim=-1)",
        "torch.softmax(all_attention_scores(inputs), dim=0)",
    )
}


def run_check(
    ws: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """python -m learner.check in the workspace, as make check runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "learner.check", *args],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


HEAD = '\nall_attention_weights on "Your journey starts with one step" (book section 3.3.1)\n'


def test_failing_weights_drawn_beside_the_expected(tmp_path: Path) -> None:
    """For a failing all_attention_weights, does make check draw yours next to the expected
    weights after the report, name the largest difference, and write no PNG unasked?"""
    ws = workspace(tmp_path, "solutions", DIM0)
    proc = run_check(ws, "--ex", "simple_attention")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.index("Check it again with: make check EX=all_attention_weights") < (
        proc.stdout.index(HEAD)
    )
    drawing = proc.stdout[proc.stdout.index(HEAD) :].splitlines()
    assert drawing[2].split() == ["yours", "expected"]
    assert drawing[4].startswith("  0 Your     ") and "│" in drawing[4]
    # with dim=0 the columns sum to 1: yours is the expected transposed, so the largest
    # difference is as large at [1, 4] as at [4, 1] (rows and columns numbered from 0)
    assert (
        "largest difference: row 1 (journey), column 4 (one): yours 0.1958, expected 0.1082"
        in proc.stdout
        or "largest difference: row 4 (one), column 1 (journey): yours 0.1082, expected 0.1958"
        in proc.stdout
    )
    assert not (ws / "build").exists()


def test_plot_writes_the_png_and_prints_its_path(tmp_path: Path) -> None:
    """With --plot (PLOT=1), is build/plots/<exercise>.png written in the student's folder, a
    real PNG, and its path printed?"""
    ws = workspace(tmp_path, "solutions", DIM0)
    proc = run_check(ws, "--ex", "all_attention_weights", "--plot")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("all_attention_weights.png", "all_attention_weights_cat_ran.png"):
        path = Path("build") / "plots" / name  # journey, then "The cat ran"
        assert f"Heatmap written to {path}" in proc.stdout.splitlines()
        width, height = png_size(ws / path)
        assert width > 400 and height > 200


def test_plot_of_a_passing_chosen_exercise(tmp_path: Path) -> None:
    """A passing exercise chosen with EX= is drawn too (matching), and PLOT=1 on an exercise
    without weights says which ones it draws."""
    ws = workspace(tmp_path, "solutions")
    proc = run_check(ws, "--ex", "causal_attention_weights", "--plot")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "yours, the same as the expected" in proc.stdout
    assert (ws / "build" / "plots" / "causal_attention_weights.png").is_file()
    other = run_check(ws, "--ex", "softmax_stable", "--plot")
    assert other.returncode == 0
    names = ", ".join(attention_maps.CASES)
    assert f"PLOT=1 draws one of these when it fails or is chosen with EX=: {names}." in (
        other.stdout.splitlines()
    )
    assert "all_attention_weights, scaled_attention_weights, softmax_rows" in names


def test_plot_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    """Where matplotlib cannot be imported, is PLOT=1 one line saying how to install it,
    with the terminal heatmap still drawn and no file written?"""
    ws = workspace(tmp_path, "solutions", DIM0)
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    env = {"PYTHONPATH": f"{blocker.parent}{os.pathsep}{ROOT}"}
    proc = run_check(ws, "--ex", "all_attention_weights", "--plot", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    install = (
        "PLOT=1 needs matplotlib: install it with  "
        '.venv/bin/pip install -c constraints.txt -e ".[plot]"'
    )
    assert proc.stdout.splitlines().count(install) == 1  # said once, not once per drawing
    assert HEAD in proc.stdout
    assert not (ws / "build").exists()


def _make_check_command(*variables: str) -> str:
    """The command `make check` would run (make -n: nothing is run, the venv is left alone)."""
    proc = subprocess.run(
        ["make", "-n", "check", *variables], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return next(line for line in proc.stdout.splitlines() if "learner.check" in line)


def test_make_check_plot_passes_the_flag() -> None:
    """Does `make check EX=... PLOT=1` pass --plot, and leave it out without PLOT or PLOT=0?"""
    words = _make_check_command("EX=all_attention_weights", "PLOT=1").rstrip(" \\").split()
    assert words[-3:] == [
        "--ex",
        "all_attention_weights",
        "--plot",
    ]
    assert "--plot" not in _make_check_command("EX=all_attention_weights")
    assert "--plot" not in _make_check_command("PLOT=0")
