"""Attention weights as a picture: shaded cells for the terminal, a PNG through matplotlib.

Rows are query tokens, columns key tokens, numbered from 0 with their token as every message
numbers rows ("row 1 (journey)", as inputs[1] in Python); "yours" and "expected" share one scale
so that the same shade means the same weight in both. matplotlib is optional
(`pip install -e ".[plot]"`) and imported only when a PNG is asked for.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .compare import FLOAT32_ATOL

UNICODE_SHADES = ("  ", "░░", "▒▒", "▓▓", "██")  # blank is the lowest value (0 for weights)
ASCII_SHADES = ("  ", "..", "::", "++", "##")
UNICODE_BAD, ASCII_BAD = "!!", "!!"  # nan or inf
UNICODE_RULE, ASCII_RULE = "│", "|"
GAP = 5  # spaces (with the rule in the middle) between "yours" and "expected"
INSTALL = (
    "PLOT=1 needs matplotlib: install it with  "
    '.venv/bin/pip install -c constraints.txt -e ".[plot]"'
)


class PlotUnavailable(Exception):
    """matplotlib is not installed; str() says how to install it, in one line."""


def as_matrix(value: Any) -> np.ndarray | None:
    """`value` (tensor, array, nested list) as a float64 numpy array, or None if it is none."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch here
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def _unicode_ok(stream: Any = None) -> bool:
    """Can `stream` (stdout by default) print the block shades? (A StringIO has no encoding.)"""
    encoding = getattr(stream if stream is not None else sys.stdout, "encoding", None) or "utf-8"
    try:
        ("".join(UNICODE_SHADES) + UNICODE_RULE + "≤").encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _scale(*matrices: np.ndarray | None) -> tuple[float, float]:
    """(low, high) over the finite entries of every matrix; low is at most 0."""
    finite = [m[np.isfinite(m)] for m in matrices if m is not None]
    values = np.concatenate(finite) if finite else np.zeros(0)
    low = min(0.0, float(values.min())) if values.size else 0.0
    high = float(values.max()) if values.size else 1.0
    return low, (high if high > low else low + 1.0)


def _level(value: float, low: float, high: float) -> int:
    """0 (blank) for the lowest value exactly, then 1..4 by quarters of the scale."""
    frac = (value - low) / (high - low)
    return 0 if frac <= 0 else min(4, max(1, math.ceil(frac * 4 - 1e-9)))


def _panel(m: np.ndarray, low: float, high: float, shades: tuple[str, ...], bad: str) -> list[str]:
    rows = []
    for row in m:
        cells = [bad if not np.isfinite(v) else shades[_level(float(v), low, high)] for v in row]
        rows.append(" ".join(cells))
    return rows


def _usable(m: np.ndarray | None, n: int) -> bool:
    return m is not None and m.shape == (n, n)


def terminal(
    weights: Any,
    labels: list[str],
    expected: Any = None,
    *,
    title: str = "",
    unicode: bool | None = None,
) -> str:
    """[n, n] weights as shaded cells, rows = queries and columns = keys, labelled by token;
    with `expected`, side by side: yours | expected, on one scale. ASCII where stdout cannot
    print the block shades (or with unicode=False)."""
    n = len(labels)
    yours, want = as_matrix(weights), as_matrix(expected)
    use_unicode = _unicode_ok() if unicode is None else unicode
    shades = UNICODE_SHADES if use_unicode else ASCII_SHADES
    bad = UNICODE_BAD if use_unicode else ASCII_BAD
    rule = UNICODE_RULE if use_unicode else ASCII_RULE
    le = "≤" if use_unicode else "<="

    panels: list[tuple[str, np.ndarray]] = []
    notes: list[str] = []
    if _usable(yours, n):
        panels.append(("yours", yours))  # type: ignore[arg-type]
    elif weights is not None:
        shape = "no numbers" if yours is None else f"shape {list(yours.shape)}"
        notes.append(f"yours: {shape}, expected [{n}, {n}]: nothing to draw")
    if _usable(want, n):
        panels.append(("expected", want))  # type: ignore[arg-type]
    if not panels:
        return "\n".join(([title] if title else []) + [f"  {note}" for note in notes])

    low, high = _scale(*(m for _, m in panels))
    row_labels = [f"{i} {label}" for i, label in enumerate(labels)]  # 0-based, as in Python
    width = max(len(r) for r in row_labels)
    panel_width = 3 * n - 1
    numbers = " ".join(f"{j:<2}" for j in range(n)).rstrip().ljust(panel_width)
    sep = " " * (GAP // 2) + rule + " " * (GAP // 2)
    blank_sep = " " * GAP

    lines = [title] if title else []
    indent = " " * (width + 4)
    lines.append(indent + blank_sep.join(name.ljust(panel_width) for name, _ in panels))
    lines.append(indent + blank_sep.join(numbers for _ in panels))
    drawn = [_panel(m, low, high, shades, bad) for _, m in panels]
    for i, label in enumerate(row_labels):
        lines.append(f"  {label:<{width}}  " + sep.join(p[i] for p in drawn))
    lines = [line.rstrip() for line in lines]

    steps = [low + (high - low) * k / 4 for k in range(1, 5)]
    legend = "  ".join(f"{shades[k][0]} {le}{steps[k - 1]:.2g}" for k in range(1, 5))
    lines.append(f"  rows: queries, columns: keys; blank = {low:.2g}  {legend}")
    if any(not np.isfinite(m).all() for _, m in panels):
        lines.append(f"  {bad} = nan or inf")
    if len(panels) == 2:
        lines.append("  " + _largest_difference(panels[0][1], panels[1][1], labels))
    lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def _largest_difference(yours: np.ndarray, expected: np.ndarray, labels: list[str]) -> str:
    with np.errstate(invalid="ignore"):
        diff = np.abs(yours - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
    if diff[i, j] <= FLOAT32_ATOL:
        return f"yours match the expected weights (within {FLOAT32_ATOL:g})"
    return (
        f"largest difference: row {i} ({labels[i]}), column {j} ({labels[j]}): "
        f"yours {yours[i, j]:.4f}, expected {expected[i, j]:.4f}"
    )


# ---- PNG ------------------------------------------------------------------------------------


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), or PlotUnavailable."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(INSTALL) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png(
    path: Path,
    weights: Any,
    labels: list[str],
    expected: Any = None,
    *,
    title: str = "",
) -> Path:
    """Write the heatmap(s) to `path` as a PNG: yours and expected side by side, one colour
    scale, each cell's value printed; returns the path. PlotUnavailable without matplotlib."""
    plt = _pyplot()
    n = len(labels)
    panels = [
        (name, m)
        for name, m in (("yours", as_matrix(weights)), ("expected", as_matrix(expected)))
        if _usable(m, n)
    ]
    if not panels:
        raise ValueError(f"nothing to draw: no [{n}, {n}] matrix among yours and expected")
    low, high = _scale(*(m for _, m in panels))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(1.0 + 3.4 * len(panels), 3.6), squeeze=False, layout="constrained"
    )
    image = None
    for ax, (name, m) in zip(axes[0], panels, strict=True):
        shown = np.where(np.isfinite(m), m, np.nan)
        image = ax.imshow(shown, cmap="Blues", vmin=low, vmax=high)
        ax.set_title(name)
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        ax.set_xlabel("keys")
        ax.set_ylabel("queries")
        for i in range(n):
            for j in range(n):
                v = m[i, j]
                text = f"{v:.2f}" if np.isfinite(v) else str(v)
                dark = np.isfinite(v) and (v - low) / (high - low) > 0.6
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return path
