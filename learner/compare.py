"""Compare a returned array with the expected one and say, in a line or three, how they differ.

Shared by the public tests, the hidden suites and the feedback. Works on numpy arrays only:
torch tensors are converted before they reach here (the grader never holds a student's tensor).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32_ATOL = 1e-5  # float32 attention on inputs of order 1
DOC_ATOL = 1e-4  # the documents print 4 decimals: half a unit in the last place, plus float32


def fmt(a: np.ndarray | float, limit: int = 400) -> str:
    """A short, stable rendering of an array or number (4 decimals)."""
    text = np.array2string(
        np.asarray(a), precision=4, suppress_small=True, separator=", ", threshold=64
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch(
    got: np.ndarray, expected: np.ndarray, *, atol: float, rtol: float = 0.0
) -> str | None:
    """None if `got` matches `expected` (same shape, within atol + rtol*|expected|), else why."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if got.dtype.kind not in "biuf":
        return f"dtype {got.dtype}, expected numbers"
    g, e = got.astype(np.float64), expected.astype(np.float64)
    bad_nan = np.isnan(g) != np.isnan(e)
    with np.errstate(invalid="ignore"):
        diff = np.abs(g - e)
        # inf == inf counts as equal (a masked score may be -inf)
        diff = np.where((g == e) | (np.isnan(g) & np.isnan(e)), 0.0, diff)
        tolerance = atol + rtol * np.where(np.isfinite(e), np.abs(e), 0.0)  # not 0 * inf = nan
        bad = bad_nan | ~(diff <= tolerance)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"[{', '.join(map(str, first))}]" if first else "the value"
    wrong = diff[bad]
    # a nan or inf where a number belongs is the largest error there is: never hide it
    max_err = f"{wrong.max():.3g}" if np.isfinite(wrong).all() else "inf or nan"
    count = int(bad.sum())
    shown = [str(a.astype(bool)[first]) if a.dtype == np.bool_ else f"{b[first]:.6g}"
             for a, b in ((got, g), (expected, e))]  # fmt: skip
    return (
        f"{count} of {bad.size} entries differ; first at {where}: got {shown[0]}, "
        f"expected {shown[1]} (max error {max_err}, tolerance {atol:g})"
    )


def describe_type(value: Any) -> str:
    """`torch.Tensor float32 [2, 3]`, `numpy.ndarray float64 [3]`, `list`, ... for messages."""
    mod = type(value).__module__.split(".")[0]
    name = f"{mod}.{type(value).__qualname__}" if mod not in ("builtins",) else type(value).__name__
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        dims = ", ".join(str(int(s)) for s in shape)
        return f"{name} {str(dtype).replace('torch.', '')} [{dims}]"
    return name
