"""`make check` end to end: `python -m learner.check` in a real subprocess on a temp workspace.

A workspace is a folder holding `exercises/` (copied from solutions/ or from the stubs, then
edited); the check runs there, so `exercises` resolves to the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.notebooks import write_source
from learner import check, manifest

pytestmark = pytest.mark.slow
EXERCISES = manifest.load()
POINTS = {e.id: e.points for e in EXERCISES}
N = len(EXERCISES)  # the curriculum's numbers, as make check prints them
TOTAL = sum(e.points for e in EXERCISES)
ALL_DONE = f"{N}/{N} exercises, {TOTAL:g}/{TOTAL:g} points"
MARK_DONE, MARK_FAILING, MARK_IDLE = "✓", "✗", "·"


def workspace(tmp: Path, base: str, edits: dict[str, tuple[str, str]] | None = None) -> Path:
    """tmp/exercises copied from `base` ("solutions" or "exercises"), each edit a replacement."""
    target = tmp / "exercises"
    target.mkdir(parents=True)
    for path in (ROOT / base).glob("*.py"):
        shutil.copy(path, target / path.name)
    for module, (old, new) in (edits or {}).items():
        path = target / f"{module}.py"
        text = path.read_text()
        assert old in text, f"{old!r} not in {module}"
        path.write_text(text.replace(old, new, 1))
    return tmp


def run_check(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "learner.check", *args],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def lines_by_exercise(stdout: str) -> dict[str, str]:
    """The per-exercise lines of the report, by exercise id."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts[0] in (MARK_DONE, MARK_FAILING, MARK_IDLE):
            out[parts[1]] = line
    return out


# ---- a mixed workspace: one of every kind of trouble ---------------------------------------

SUM_ALL = "return e / e.sum()"
MIXED = {
    # softmax_naive: sums over the whole tensor (wrong for 2-D input) -> failing
    "simple_attention": (
        "    e = torch.exp(x)\n    return e / e.sum(dim=-1, keepdim=True)",
        f"    e = torch.exp(x)\n    print('debugging softmax_naive')\n    {SUM_ALL}",
    ),
    # CausalAttention: forgets to transpose the keys -> a RuntimeError inside forward
    "causal_attention": (
        "scores = queries @ keys.transpose(-2, -1)  # (b, n, n)",
        "scores = queries @ keys  # (b, n, n)",
    ),
    # SelfAttention_v2: renamed -> the test cannot find it
    "trainable_attention": ("class SelfAttention_v2(", "class SelfAttentionV2("),
    # numpy_attention: a missing colon -> the file does not parse
    "numpy_attention": (
        "def softmax_rows(scores: np.ndarray) -> np.ndarray:",
        "def softmax_rows(scores: np.ndarray) -> np.ndarray",
    ),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = workspace(tmp_path_factory.mktemp("mixed"), "solutions", MIXED)
    # all_attention_weights back to its stub, while all_context_vectors (which calls it) is done
    path = ws / "exercises" / "simple_attention.py"
    text = path.read_text()
    done = "    return torch.softmax(all_attention_scores(inputs), dim=-1)\n"
    assert done in text
    path.write_text(text.replace(done, stub_body("all_attention_weights")))
    return ws


def stub_body(exercise: str) -> str:
    return f'    raise NotImplementedError("{exercise}: not started")\n'


@pytest.fixture(scope="module")
def mixed_run(mixed: Path) -> subprocess.CompletedProcess[str]:
    return run_check(mixed)


def test_all_pass(tmp_path: Path) -> None:
    """With the reference in exercises/, is every exercise done and the exit status 0?"""
    proc = run_check(workspace(tmp_path, "solutions"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = lines_by_exercise(proc.stdout)
    assert list(lines) == [e.id for e in EXERCISES]
    assert all(line.split()[0] == MARK_DONE for line in lines.values())
    assert f"Progress: {check.progress_bar(N, N)} {ALL_DONE}" in proc.stdout
    assert proc.stderr == ""


def test_fresh_stubs_are_not_started(tmp_path: Path) -> None:
    """On the untouched stubs, is every exercise "not started", with no traceback?"""
    proc = run_check(workspace(tmp_path, "exercises"))
    assert proc.returncode == 1
    lines = lines_by_exercise(proc.stdout)
    assert list(lines) == [e.id for e in EXERCISES]
    assert all(line.split()[0] == MARK_IDLE and "not started" in line for line in lines.values())
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"0/{N} exercises, 0/{TOTAL:g} points" in proc.stdout
    assert "Next: attention_scores in exercises/simple_attention.py" in proc.stdout


def test_broken_function_is_explained(mixed_run: subprocess.CompletedProcess[str]) -> None:
    """Is the first failing exercise explained: question, input, expected, got, hint, command?"""
    out = mixed_run.stdout
    assert mixed_run.returncode == 1
    assert lines_by_exercise(out)["softmax_naive"].split()[:3] == [
        MARK_FAILING,
        "softmax_naive",
        f"0/{POINTS['softmax_naive']:g}",
    ]
    detail = out.split("Progress:")[1]
    assert f"{MARK_FAILING} softmax_naive: " in detail
    for needle in (
        "input:",
        "expected:",
        "got:      torch.Tensor float32 [3, 4]",
        "first at [0, 0]",
    ):
        assert needle in detail
    assert f"Hint: {manifest.by_id()['softmax_naive'].hints[0]}" in detail
    assert "make check EX=softmax_naive" in detail
    assert "CausalAttention:" not in detail  # only the first failing exercise is explained


def test_other_exercises_unaffected(mixed_run: subprocess.CompletedProcess[str]) -> None:
    """Do the untouched exercises still show as done?"""
    lines = lines_by_exercise(mixed_run.stdout)
    for exercise in (
        "attention_scores",
        "softmax_stable",
        "SelfAttention_v1",
        "MultiHeadAttention",
    ):
        assert lines[exercise].split()[0] == MARK_DONE, lines[exercise]


def test_prints_are_shown_under_the_failing_exercise(
    mixed_run: subprocess.CompletedProcess[str],
) -> None:
    """Is what the failing exercise printed shown under its report, before the hint?"""
    detail = mixed_run.stdout.split("Progress:")[1]
    printed = detail.index("  Your code printed:\n  | debugging softmax_naive\n")
    assert detail.index(f"{MARK_FAILING} softmax_naive: ") < printed < detail.index("Hint: ")
    assert "debugging softmax_naive" not in mixed_run.stderr


def test_prints_are_cut_to_a_few_kb(tmp_path: Path) -> None:
    """Is a flood of prints cut to a few KB (its start and its end kept), and are a passing
    exercise's prints left out?"""
    flood = (
        "    return inputs @ query  # (n,)",
        "    print('START' + 'x' * 100_000 + 'END')\n    return -(inputs @ query)",
    )
    quiet = (
        "    return attn_weights @ inputs  # (d,)",
        "    print('PASSING')\n    return attn_weights @ inputs",
    )
    ws = workspace(tmp_path, "solutions", {"simple_attention": flood})
    path = ws / "exercises" / "simple_attention.py"
    path.write_text(path.read_text().replace(*quiet))
    proc = run_check(ws, "--ex", "simple_attention")
    assert proc.returncode == 1
    assert "| STARTxxx" in proc.stdout and "xxxEND" in proc.stdout
    assert "characters left out" in proc.stdout
    assert len(proc.stdout) < 12_000
    assert "PASSING" not in proc.stdout


def test_waiting_on_an_unstarted_exercise(mixed_run: subprocess.CompletedProcess[str]) -> None:
    """Does a finished exercise that calls an unstarted one say what it is waiting on?"""
    lines = lines_by_exercise(mixed_run.stdout)
    assert lines["all_attention_weights"].split()[0] == MARK_IDLE
    assert lines["all_attention_weights"].endswith("not started")
    assert lines["all_context_vectors"].split()[0] == MARK_IDLE
    assert lines["all_context_vectors"].endswith("waiting on all_attention_weights")


def test_syntax_error_names_file_and_line(
    mixed: Path, mixed_run: subprocess.CompletedProcess[str]
) -> None:
    """Does a file that does not parse show its path and line, for each of its exercises?"""
    line = _line_of(mixed / "exercises" / "numpy_attention.py", "def softmax_rows(")
    lines = lines_by_exercise(mixed_run.stdout)
    for exercise in ("softmax_rows", "self_attention_numpy"):
        assert lines[exercise].split()[0] == MARK_FAILING
        assert lines[exercise].endswith(f"exercises/numpy_attention.py:{line} does not import")
    proc = run_check(mixed, "--ex", "numpy_attention")
    assert (
        f"exercises/numpy_attention.py, line {line}: Python cannot read this file." in proc.stdout
    )
    assert "SyntaxError: expected ':'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_runtime_error_points_at_the_line(mixed: Path) -> None:
    """With EX=CausalAttention, is the student's exception shown with its file, line and code?"""
    proc = run_check(mixed, "--ex", "CausalAttention")
    assert proc.returncode == 1
    assert list(lines_by_exercise(proc.stdout)) == ["CausalAttention"]
    line = _line_of(mixed / "exercises" / "causal_attention.py", "scores = queries @ keys  #")
    assert "RuntimeError: " in proc.stdout
    assert f"at exercises/causal_attention.py:{line}: scores = queries @ keys" in proc.stdout
    assert (
        f"0/1 exercises in CausalAttention, 0/{POINTS['CausalAttention']:g} points" in proc.stdout
    )


def test_endless_loop_is_stopped_and_named(tmp_path: Path) -> None:
    """Does a loop that never ends fail its exercise after the time limit, instead of hanging
    make check, with the rest still checked?"""
    loop = (
        "    return inputs @ query  # (n,)",
        "    import time\n    end = time.monotonic() + 60  # bounded\n"
        f"    with open({str(tmp_path / 'entered.log')!r}, 'a') as log:\n"
        "        print('entered', file=log)\n"
        "    while time.monotonic() < end:\n        pass",
    )
    ws = workspace(tmp_path, "solutions", {"simple_attention": loop})
    env_seconds = {"ATTENTION_KIT_TEST_SECONDS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "learner.check", "--ex", "simple_attention"],
        cwd=ws,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env_seconds},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = lines_by_exercise(proc.stdout)
    assert lines["attention_scores"].split()[0] == MARK_FAILING
    assert lines["softmax_stable"].split()[0] == MARK_DONE
    assert "still running after 1 s: is there a loop that never ends?" in proc.stdout
    # one timeout per exercise: its other tests failed at once, without entering the loop
    assert (ws / "entered.log").read_text().count("entered") == 1


def test_endless_loop_at_import_is_stopped_once(tmp_path: Path) -> None:
    """Does a loop at the top level of a file stop after the time limit, once for the whole
    file (not once per test), and leave the other files checked?"""
    loop = (
        "import numpy as np\n",
        "import numpy as np\nimport time\n\n_end = time.monotonic() + 60  # bounded\n"
        "while time.monotonic() < _end:\n    pass\n",
    )
    ws = workspace(tmp_path, "solutions", {"numpy_attention": loop})
    proc = subprocess.run(
        [sys.executable, "-m", "learner.check"],
        cwd=ws,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ATTENTION_KIT_TEST_SECONDS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = lines_by_exercise(proc.stdout)
    assert lines["softmax_rows"].split()[0] == MARK_FAILING
    assert lines["self_attention_numpy"].split()[0] == MARK_FAILING
    assert lines["causal_mask"].split()[0] == MARK_DONE
    assert "still running after 2 s: is there a loop that never ends?" in proc.stdout


def test_renamed_exercise(mixed: Path) -> None:
    """Is a function or class the student renamed reported as missing from its file?"""
    proc = run_check(mixed, "--ex", "SelfAttention_v2")
    assert lines_by_exercise(proc.stdout)["SelfAttention_v2"].split()[0] == MARK_FAILING
    assert "exercises/trainable_attention.py has no SelfAttention_v2" in proc.stdout


def test_select_a_topic(tmp_path: Path) -> None:
    """Does EX=<module> check just that module's exercises, in teaching order?"""
    proc = run_check(workspace(tmp_path, "exercises"), "--ex", "causal_attention")
    assert list(lines_by_exercise(proc.stdout)) == [
        "causal_mask",
        "mask_and_renormalize",
        "causal_attention_weights",
        "CausalAttention",
    ]
    assert proc.returncode == 1


def test_selection_passes_when_it_is_done(mixed: Path, tmp_path: Path) -> None:
    """Is the exit status 0 when every selected exercise passes, even if others fail?"""
    proc = run_check(mixed, "--ex", "softmax_stable")
    assert proc.returncode == 0, proc.stdout
    assert list(lines_by_exercise(proc.stdout)) == ["softmax_stable"]
    assert "Every exercise passes" not in proc.stdout  # the others were not checked
    assert "softmax_stable passes. It is the only exercise this check ran" in proc.stdout
    topic = run_check(workspace(tmp_path, "solutions"), "--ex", "causal_attention")
    assert topic.returncode == 0, topic.stdout
    assert "Every exercise passes. Well done." not in topic.stdout
    causal = sum(e.module == "causal_attention" for e in EXERCISES)
    assert (
        f"Every exercise in causal_attention passes: {causal} of the {N} exercises were checked"
        in topic.stdout
    )


def test_unknown_exercise(tmp_path: Path) -> None:
    """Does an unknown EX exit with 2 and list the topics and exercises to choose from?"""
    proc = run_check(workspace(tmp_path, "exercises"), "--ex", "softmax_fancy")
    assert proc.returncode == 2
    assert "no exercise or topic called 'softmax_fancy'" in proc.stderr
    for name in [*manifest.modules(), *(e.id for e in EXERCISES)]:
        assert name in proc.stderr
    assert proc.stdout == ""
    nothing_close = run_check(tmp_path, "--ex", "transformer_block")
    assert nothing_close.returncode == 2
    assert "Did you mean" not in nothing_close.stderr


def test_mistyped_exercise_gets_a_did_you_mean(tmp_path: Path) -> None:
    """Does a mistyped EX name the closest exercises or topics?"""
    proc = run_check(workspace(tmp_path, "exercises"), "--ex", "casual_attention")
    assert proc.returncode == 2
    assert "Did you mean: causal_attention" in proc.stderr
    assert "For example: make check EX=causal_attention" in proc.stderr
    proc = run_check(tmp_path, "--ex", "softmax_stabel")
    assert "Did you mean: softmax_stable?" in proc.stderr


def test_a_closed_pipe_ends_quietly_and_saves_progress(tmp_path: Path) -> None:
    """`make check | head -3`: is there no traceback when the reader has gone, the exit status
    still the check's, and the progress saved?"""
    ws = workspace(tmp_path, "solutions")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "learner.check"],
        cwd=ws,
        env=env,
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )
    os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 0
    state = json.loads((ws / ".attention-kit-state.json").read_text())
    assert len(state["passed"]) == len(EXERCISES)
    shell = subprocess.run(
        f"{sys.executable} -m learner.check --ex simple_attention | head -3",
        shell=True,
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert len(shell.stdout.splitlines()) == 3
    assert shell.stderr == ""


def test_score_column_is_aligned() -> None:
    """Do the slashes of the score column line up, for 10-point exercises too?"""
    statuses = [check.Status(e, passed=1) for e in EXERCISES]
    lines = [line for line in check.report(statuses, None, "exercises").splitlines() if "/" in line]
    lines = [line for line in lines if line.startswith("  ")]
    assert len(lines) == len(EXERCISES)
    assert len({line.index("/") for line in lines}) == 1, "\n".join(lines)
    assert all(line == line.rstrip() for line in lines)


def test_plain_import_of_a_sibling_file(tmp_path: Path) -> None:
    """Does `from causal_attention import CausalAttention` (a plain import of a sibling file)
    work in make check, and score full marks through attention-kit autograde, from .py files and
    from a notebook cell the student added?"""
    corpus = ROOT / "tests" / "corpus" / "variant_plain_sibling_imports" / "exercises"
    ws = workspace(tmp_path / "student", "solutions")
    for path in corpus.glob("*.py"):
        shutil.copy(path, ws / "exercises" / path.name)
    assert (
        "from causal_attention import" in (ws / "exercises" / "multihead_attention.py").read_text()
    )
    proc = run_check(ws)
    assert proc.returncode == 0, proc.stdout
    assert ALL_DONE in proc.stdout
    subs = tmp_path / "submissions"
    shutil.copytree(ws / "exercises", subs / "alice" / "exercises")
    write_source(subs / "bob")  # the notebooks with their answers filled in
    path = subs / "bob" / "multihead_attention.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "source": "from causal_attention import CausalAttention\n",
            "outputs": [],
            "execution_count": None,
        }
    )
    path.write_text(json.dumps(notebook))
    out = tmp_path / "out"
    graded = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.cli",
            "autograde",
            "--quiet",
            "--submissions",
            str(subs),
            "--out",
            str(out),
            "--seed",
            "7",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert graded.returncode == 0, graded.stderr[-3000:]
    grades = json.loads((out / "grades.json").read_text())
    for student in ("alice", "bob"):
        assert grades["students"][student]["total"] == TOTAL, grades["students"][student]


def test_off_limits_and_wrong_type(tmp_path: Path) -> None:
    """Are a library softmax in softmax_stable and a list from context_vector explained?"""
    ws = workspace(
        tmp_path,
        "solutions",
        {
            "simple_attention": (
                "    return attn_weights @ inputs  # (d,)",
                "    return (attn_weights @ inputs).tolist()",
            )
        },
    )
    path = ws / "exercises" / "simple_attention.py"
    text = path.read_text()
    stable = "    shifted = x - x.amax(dim=dim, keepdim=True)"
    path.write_text(text.replace(stable, "    return torch.softmax(x, dim=dim)\n" + stable))
    proc = run_check(ws, "--ex", "softmax_stable")
    line = _line_of(path, "return torch.softmax(x, dim=dim)")
    assert "softmax_stable must not use a library softmax" in proc.stdout
    assert f"exercises/simple_attention.py line {line}: torch.softmax" in proc.stdout
    assert "called while softmax_stable ran: torch.softmax" in proc.stdout
    proc = run_check(ws, "--ex", "context_vector")
    assert "expected a torch.Tensor, got list" in proc.stdout


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_progress_bar() -> None:
    """Does the bar show done/total like rustlings, full only when everything is done?"""
    assert check.progress_bar(0, 21, width=10) == "[>---------]"
    assert check.progress_bar(7, 21, width=10) == "[###>------]"
    assert check.progress_bar(20, 21, width=10) == "[#########>]"
    assert check.progress_bar(21, 21, width=10) == "[##########]"


def test_plot_for_a_topic_draws_one_map_when_it_passes(tmp_path: Path) -> None:
    """Does `EX=<topic> PLOT=1` draw (its first map), and is a passing exercise drawn once
    (yours, the same as the expected) instead of two identical maps side by side?"""
    pytest.importorskip("matplotlib", reason="PLOT=1 writes PNGs with matplotlib")
    ws = workspace(tmp_path, "solutions")
    proc = run_check(ws, "--ex", "causal_attention", "--plot")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PLOT=1 draws one of these" not in proc.stdout
    assert "mask_and_renormalize on " in proc.stdout
    assert ": yours, the same as the expected" in proc.stdout
    panels = [line.split() for line in proc.stdout.splitlines() if line.strip() == "yours"]
    assert panels == [["yours"]]  # one panel, no "expected" beside it
    assert "Heatmap written to build/plots/mask_and_renormalize.png" in proc.stdout
    assert (ws / "build" / "plots" / "mask_and_renormalize.png").stat().st_size > 0
    failing = workspace(
        tmp_path / "failing",
        "solutions",
        {
            "causal_attention": (
                "masked.sum(dim=-1, keepdim=True)",
                "masked.sum(dim=0, keepdim=True)",
            )
        },
    )
    proc = run_check(failing, "--ex", "mask_and_renormalize")
    assert proc.returncode == 1
    assert any(line.split() == ["yours", "expected"] for line in proc.stdout.splitlines())
