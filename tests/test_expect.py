"""learner.public.expect: the failure messages a student reads."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from learner.public.expect import (
    as_numbers,
    expect_close,
    expect_own_code,
    expect_sums_to_one,
    expect_that,
    show,
)


def _message(excinfo: pytest.ExceptionInfo[AssertionError]) -> str:
    return str(excinfo.value)


def test_close_values_pass() -> None:
    """Does a tensor within the tolerance pass silently?"""
    expect_close(torch.tensor([0.1385, 0.2379]), [0.13852, 0.23788], what="w", atol=1e-4)


def test_wrong_values_say_what_where_and_how_far() -> None:
    """Does a mismatch name the check, the input, expected, got (type, dtype, shape), the first
    differing entry and the largest error?"""
    x = torch.tensor([[0.0, 1.0], [1000.0, 1001.0]])
    got = torch.tensor([[0.2689, 0.7311], [float("nan"), float("nan")]])
    with pytest.raises(AssertionError) as excinfo:
        expect_close(
            got,
            [[0.2689, 0.7311]] * 2,
            what="softmax_stable(x)",
            inputs=show(x=x),
            source="003_754b012b93d7c3ae.txt In[5]",
            atol=1e-5,
        )
    lines = _message(excinfo).splitlines()
    assert lines[0] == "softmax_stable(x)"
    assert lines[1].startswith("  input:    x = [[")
    assert "1000." in lines[2]  # the second row of the input, under the first
    assert "  expected: [[0.2689, 0.7311]," in lines
    assert lines[lines.index("  expected: [[0.2689, 0.7311],") + 1].endswith(
        "(003_754b012b93d7c3ae.txt In[5])"
    )
    assert any(line.startswith("  got:      torch.Tensor float32 [2, 2] [[") for line in lines)
    assert lines[-1].startswith(
        "  2 of 4 entries differ; first at [1, 0]: got nan, expected 0.2689 (max error"
    )


def test_wrong_shape_is_reported() -> None:
    """Is a wrong shape reported as such, with both shapes?"""
    with pytest.raises(AssertionError) as excinfo:
        expect_close(torch.zeros(3), [0.0, 0.0], what="scores", atol=1e-4)
    assert "shape (3,), expected (2,)" in _message(excinfo)


@pytest.mark.parametrize(
    "got, kind, says",
    [
        ([0.1, 0.2], "torch", "expected a torch.Tensor, got list"),
        (np.zeros(2), "torch", "expected a torch.Tensor, got numpy.ndarray float64 [2]"),
        (torch.zeros(2), "numpy", "expected a numpy.ndarray, got torch.Tensor float32 [2]"),
        (None, "number", "expected a number, got NoneType"),
    ],
)
def test_wrong_type_is_named(got: object, kind: str, says: str) -> None:
    """Does a value of the wrong kind get named, instead of a crash inside the test?"""
    with pytest.raises(AssertionError) as excinfo:
        expect_close(got, [0.0, 0.0], what="f(x)", atol=1e-4, kind=kind)
    assert says in _message(excinfo)


def test_numbers_keep_their_values() -> None:
    """Does as_numbers hand back the tensor's values as numpy, detached from autograd?"""
    t = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    assert as_numbers(t, kind="torch", what="t").tolist() == [2.0, 4.0]


def test_sums_to_one() -> None:
    """Is a row that does not sum to 1 reported with the sums?"""
    expect_sums_to_one(torch.tensor([[0.25, 0.75]]), what="w")
    with pytest.raises(AssertionError) as excinfo:
        expect_sums_to_one(torch.tensor([[0.5, 0.75], [0.5, 0.5]]), what="w")
    message = _message(excinfo)
    assert message.startswith("the sums along dim=-1 of w")
    assert "got:      [1.25, 1.  ]" in message


def test_expect_that_says_expected_and_got() -> None:
    """Does a failed property say what was expected and what came back?"""
    with pytest.raises(AssertionError) as excinfo:
        expect_that(False, what="heads", expected="an nn.ModuleList", got="list")
    assert _message(excinfo) == "heads\n  expected: an nn.ModuleList\n  got:      list"


def _module(tmp_path: Path, source: str) -> ModuleType:
    path = tmp_path / "student.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location("student", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_code_passes_exp_and_sum(tmp_path: Path) -> None:
    """Is a softmax written from exp and sum accepted?"""
    module = _module(
        tmp_path,
        """
        import torch

        def softmax_naive(x):
            e = torch.exp(x)
            return e / e.sum(-1, keepdim=True)
        """,
    )
    expect_own_code(module, "softmax_naive", lambda: module.softmax_naive(torch.zeros(2)))


def test_own_code_flags_the_line_and_the_call(tmp_path: Path) -> None:
    """Is torch.softmax reported with its line (static) and as a call (dynamic)?"""
    module = _module(
        tmp_path,
        """
        import torch

        def softmax_naive(x):
            return torch.softmax(x, dim=-1)
        """,
    )
    with pytest.raises(AssertionError) as excinfo:
        expect_own_code(module, "softmax_naive", lambda: module.softmax_naive(torch.zeros(2)))
    message = _message(excinfo)
    assert message.startswith("softmax_naive must not use a library softmax")
    assert "student.py line 5: torch.softmax" in message
    assert "called while softmax_naive ran: torch.softmax" in message


def test_own_code_catches_what_the_source_hides(tmp_path: Path) -> None:
    """Is a softmax reached through a computed name caught while the code runs?"""
    module = _module(
        tmp_path,
        """
        import torch

        def softmax_naive(x):
            return getattr(torch, "soft" + "max")(x, -1)
        """,
    )
    with pytest.raises(AssertionError) as excinfo:
        expect_own_code(module, "softmax_naive", lambda: module.softmax_naive(torch.zeros(2)))
    assert "called while softmax_naive ran: torch.softmax" in _message(excinfo)
    assert "line 5" not in _message(excinfo)
