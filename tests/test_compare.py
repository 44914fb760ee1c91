"""compare.mismatch: the one-line difference every failure message is built on."""

import numpy as np

from learner.compare import mismatch


def test_equal_within_tolerance_is_none() -> None:
    """Do values within atol count as equal?"""
    assert mismatch(np.array([1.0, 2.0]), np.array([1.0, 2.00005]), atol=1e-4) is None


def test_matching_infinities_are_equal() -> None:
    """Does a -inf where -inf is expected (a masked score) count as equal, with or without rtol?"""
    got, expected = np.array([0.5, -np.inf]), np.array([0.5, -np.inf])
    assert mismatch(got, expected, atol=1e-6) is None
    assert mismatch(got, expected, atol=1e-6, rtol=1e-3) is None


def test_first_difference_and_max_error_are_named() -> None:
    """Does the message count the differing entries and name the first with both values?"""
    message = mismatch(
        np.array([[1.0, 2.5], [3.0, 9.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]), atol=1e-4
    )
    assert message is not None
    assert message.startswith("2 of 4 entries differ; first at [0, 1]: got 2.5, expected 2")
    assert "max error 5" in message


def test_nan_is_never_hidden_behind_a_small_max_error() -> None:
    """Does a nan among small errors make the max error read 'inf or nan'?"""
    message = mismatch(np.array([1.0, np.nan, 3.0001]), np.array([1.0, 2.0, 3.0]), atol=1e-6)
    assert message is not None and "max error inf or nan" in message


def test_shape_and_dtype_mismatches() -> None:
    """Are a wrong shape and a non-numeric dtype reported before any value?"""
    assert mismatch(np.zeros((2, 3)), np.zeros((3, 2)), atol=1) == "shape (2, 3), expected (3, 2)"
    assert mismatch(np.array(["a"]), np.array([1.0]), atol=1) == "dtype <U1, expected numbers"
