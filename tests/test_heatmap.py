"""heatmap and attention_maps: attention weights as shaded cells and as a PNG."""

from __future__ import annotations

import io
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from learner import attention_maps, heatmap, manifest
from learner.public.expect import fixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEIGHTS = [[1.0, 0.0], [0.25, 0.75]]
EVEN = [[0.5, 0.5], [0.5, 0.5]]
LABELS = ["The", "cat"]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---- the terminal --------------------------------------------------------------------------


def test_terminal_side_by_side_exact() -> None:
    """Does a 2 x 2 matrix come out as these exact lines: labels, column numbers, one shade
    per quarter of the shared scale, blank for 0, the legend and the largest difference?"""
    text = heatmap.terminal(WEIGHTS, LABELS, EVEN, title="weights", unicode=True)
    assert text.splitlines() == [
        "weights",
        "         yours     expected",
        "         0  1      0  1",
        "  0 The  ██     │  ▒▒ ▒▒",
        "  1 cat  ░░ ▓▓  │  ▒▒ ▒▒",
        "  rows: queries, columns: keys; blank = 0  ░ ≤0.25  ▒ ≤0.5  ▓ ≤0.75  █ ≤1",
        "  largest difference: row 0 (The), column 0 (The): yours 1.0000, expected 0.5000",
    ]


def test_terminal_ascii_fallback_when_stdout_cannot_print_shades(monkeypatch) -> None:
    """On a stdout that only speaks ASCII, are the shades and the rule plain ASCII?"""
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    text = heatmap.terminal(WEIGHTS, LABELS, EVEN)
    text.encode("ascii")  # raises if anything is not ASCII
    assert text.splitlines()[2:5] == [
        "  0 The  ##     |  :: ::",
        "  1 cat  .. ++  |  :: ::",
        "  rows: queries, columns: keys; blank = 0  . <=0.25  : <=0.5  + <=0.75  # <=1",
    ]


def test_terminal_matching_and_expected_only() -> None:
    """A float32 copy of the expected weights is called a match; without `expected`, is there
    one panel and no comparison line?"""
    expected = np.array(EVEN)
    same = heatmap.terminal(expected.astype(np.float32), LABELS, expected, unicode=True)
    assert same.splitlines()[-1] == "  yours match the expected weights (within 1e-05)"
    alone = heatmap.terminal(WEIGHTS, LABELS, unicode=True)
    assert alone.splitlines()[:2] == ["         yours", "         0  1"]
    assert "│" not in alone and "difference" not in alone


def test_terminal_nan_negative_and_wrong_shape() -> None:
    """nan shows as !!, a negative entry sets the blank end of the scale, and a result of the
    wrong shape is named while the expected weights are still drawn?"""
    text = heatmap.terminal([[float("nan"), -1.0], [0.0, 1.0]], LABELS, unicode=True)
    lines = text.splitlines()
    assert lines[2] == "  0 The  !!"  # -1 is the lowest value: blank
    assert lines[3] == "  1 cat  ▒▒ ██"  # 0 is half way between -1 and 1
    assert "blank = -1" in lines[4]
    assert lines[5] == "  !! = nan or inf"
    wrong = heatmap.terminal([0.5, 0.5], LABELS, EVEN, unicode=True)
    assert wrong.splitlines()[0] == "         expected"
    assert wrong.splitlines()[-1] == "  yours: shape [2], expected [2, 2]: nothing to draw"
    nothing = heatmap.terminal("not numbers", LABELS, unicode=True)
    assert nothing == "  yours: no numbers, expected [2, 2]: nothing to draw"


def test_terminal_takes_tensors() -> None:
    """Is a torch tensor that requires grad drawn like the same numbers in a list?"""
    import torch

    t = torch.tensor(WEIGHTS, requires_grad=True)
    assert heatmap.terminal(t, LABELS, EVEN, unicode=True) == heatmap.terminal(
        WEIGHTS, LABELS, EVEN, unicode=True
    )


# ---- PNG -----------------------------------------------------------------------------------


def test_png_is_written(tmp_path: Path) -> None:
    """Is the PNG written where asked, a real PNG of a sensible size, with no temp file left?"""
    path = heatmap.png(tmp_path / "plots" / "x.png", WEIGHTS, LABELS, EVEN, title="The cat")
    width, height = png_size(path)
    assert 400 <= width <= 1600 and 200 <= height <= 900, (width, height)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
    single = heatmap.png(tmp_path / "one.png", WEIGHTS, LABELS)
    assert png_size(single)[0] < width  # one panel is narrower than two


def test_png_without_matplotlib_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    """Without matplotlib, is the error one line naming the install command, and no file?"""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(heatmap.PlotUnavailable) as info:
        heatmap.png(tmp_path / "x.png", WEIGHTS, LABELS, EVEN)
    assert str(info.value) == heatmap.INSTALL
    assert "\n" not in str(info.value) and 'pip install -c constraints.txt -e ".[plot]"' in str(
        info.value
    )
    assert not (tmp_path / "x.png").exists()


# ---- the exercises drawn and their document inputs -----------------------------------------


def test_cases_are_attention_weight_exercises_with_document_labels() -> None:
    """Is every case a manifest exercise in its own module, labelled with its document's
    tokens, and its expected weights [n, n] rows summing to 1?"""
    by_id = manifest.by_id()
    assert set(attention_maps.CASES) == {
        "all_attention_weights",
        "scaled_attention_weights",
        "softmax_rows",
        "self_attention_numpy",
        "mask_and_renormalize",
        "causal_attention_weights",
    }
    for case in attention_maps.ALL_CASES:
        assert by_id[case.exercise].module == case.module
        n = len(case.labels)
        weights = attention_maps.expected(case)
        assert weights.shape == (n, n)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-12)
    journey, cat = attention_maps.CASES["all_attention_weights"]
    assert journey.labels == ["Your", "journey", "starts", "with", "one", "step"]
    assert cat.labels == ["The", "cat", "ran"]
    assert [journey.png.name, cat.png.name] == [
        "all_attention_weights.png",
        "all_attention_weights_cat_ran.png",
    ]
    (wars,) = attention_maps.CASES["scaled_attention_weights"]
    assert wars.labels == "wars not make one great".split()


def test_expected_weights_are_the_documents_printed_rows() -> None:
    """Are the drawn expected weights those the documents print (row 1 of journey, row 1 of
    the seed-123 example's scaled weights), to their 4 decimals?"""
    journey = fixture("doc002_003_journey")
    cat = fixture("doc004_cat_ran")
    wars = fixture("doc001_wars_seed123")

    def first(exercise: str, index: int = 0) -> np.ndarray:
        return attention_maps.expected(attention_maps.CASES[exercise][index])

    doc = 1e-4  # the documents print 4 decimals
    np.testing.assert_allclose(
        first("all_attention_weights")[1], journey["attn_weights_2"].value, atol=doc
    )
    np.testing.assert_allclose(
        first("all_attention_weights", 1)[2], cat["attn_weights"].value, atol=doc
    )
    np.testing.assert_allclose(first("softmax_rows")[1], journey["attn_weights_2"].value, atol=doc)
    np.testing.assert_allclose(
        first("scaled_attention_weights")[1], wars["attn_weights_2"].value, atol=doc
    )
    causal = first("causal_attention_weights")
    assert np.all(causal[np.triu_indices(6, k=1)] == 0.0)  # the future gets exactly 0


@pytest.mark.parametrize("case", attention_maps.ALL_CASES, ids=lambda c: c.png.stem)
def test_reference_weights_match_the_expected(case: attention_maps.Case) -> None:
    """Do the solutions, called as make check calls the student's code, give the expected map?"""
    weights, why = attention_maps.student_weights(case, "solutions")
    assert why == ""
    np.testing.assert_allclose(heatmap.as_matrix(weights), attention_maps.expected(case), atol=1e-5)


def _status(exercise: str, state: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(exercise=manifest.by_id()[exercise], state=state)


def test_choose_draws_the_explained_failure_or_the_chosen_exercise() -> None:
    """Is the drawn exercise the first failing one (when it has a map), else the one EX= names
    once it runs, and never a broken or not-started one?"""
    choose = attention_maps.choose
    failing = [_status("softmax_stable", "done"), _status("all_attention_weights", "failing")]
    assert choose(failing, None) == "all_attention_weights"
    first_fails_without_map = [_status("softmax_stable", "failing"), failing[1]]
    assert choose(first_fails_without_map, None) is None
    assert choose([_status("softmax_rows", "broken")], "softmax_rows") is None
    assert choose([_status("softmax_rows", "done")], "softmax_rows") == "softmax_rows"
    assert choose([_status("softmax_rows", "not started")], "softmax_rows") is None
    topic = [_status("softmax_rows", "done"), _status("self_attention_numpy", "done")]
    assert choose(topic, "numpy_attention") == "softmax_rows"  # a topic all done: its first map
    assert (
        choose(
            [_status("softmax_rows", "done"), _status("self_attention_numpy", "failing")],
            "numpy_attention",
        )
        == "self_attention_numpy"
    )
    assert choose(topic, None) is None  # a full check that passes draws nothing


def test_student_code_that_raises_prints_or_hangs(tmp_path: Path, monkeypatch) -> None:
    """A student's function that raises, prints or never returns: is there a one-line reason,
    nothing printed, and the expected map still drawn?"""
    package = tmp_path / "hmstudent"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "simple_attention.py").write_text(
        "def all_attention_weights(inputs):\n    print('debug!')\n    raise ValueError('no')\n"
    )
    (package / "causal_attention.py").write_text(
        "def mask_and_renormalize(w):\n    while True:\n        pass\n"
    )
    (package / "numpy_attention.py").write_text(
        "def self_attention_numpy(X, WQ, WK, WV):\n    return X\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(attention_maps, "CALL_SECONDS", 0.5)
    journey = attention_maps.CASES["all_attention_weights"][0]
    (mask,) = attention_maps.CASES["mask_and_renormalize"]
    (numpy,) = attention_maps.CASES["self_attention_numpy"]
    weights, why = attention_maps.student_weights(journey, "hmstudent")
    assert weights is None and why == "your all_attention_weights raised ValueError on this input"
    weights, why = attention_maps.student_weights(mask, "hmstudent")
    assert weights is None and why == "your mask_and_renormalize was still running after 0.5 s"
    weights, why = attention_maps.student_weights(numpy, "hmstudent")
    assert weights is None and "did not return (output, attention_weights)" in why

    statuses = [_status("all_attention_weights", "failing")]
    text = attention_maps.after_check(statuses, None, "hmstudent", plot=False)
    assert "debug!" not in text
    assert "expected" in text.splitlines()[1] and "yours" not in text.splitlines()[1]
    note = (
        "  (your all_attention_weights raised ValueError on this input: "
        "only the expected weights are drawn)"
    )
    assert text.splitlines().count(note) == 2  # journey, then "The cat ran"
    cat = 'all_attention_weights on "The cat ran" (notebooks/simple_attention.ipynb)'
    assert cat in text.splitlines()


def test_feedback_map_is_the_expected_panel() -> None:
    """Is the feedback's map the expected weights alone, with the document's title, and
    nothing for an exercise without a map?"""
    text = attention_maps.feedback_map("causal_attention_weights")
    lines = text.splitlines()
    assert lines[0] == (
        'causal_attention_weights on "Your journey starts with one step" (book section 3.3.1)'
    )
    assert lines[1].strip() == "expected"
    assert lines[3] == "  0 Your     ██"  # only the first token is visible to the first query
    assert attention_maps.feedback_map("CausalAttention") == ""
