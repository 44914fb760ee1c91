"""One way for every benchmark to state a figure: its value, its target, and whether it met it.

Each benchmark module returns `Figure`s; `report` prints them one per line and, with `--json`,
one JSON line for tracking (`{"bench": ..., "figures": {name: {value, target, met}}}`).
Targets are ratios measured in the same run, so a busy machine moves both sides alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    target: float | None = None  # None: reported, not judged
    unit: str = ""  # "" for a ratio
    higher_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def line(self) -> str:
        value = f"{self.value:.4g}{' ' + self.unit if self.unit else ''}"
        if self.target is None:
            return f"  {self.name:<52} {value}"
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "NOT MET"
        return f"  {self.name:<52} {value}  (target {sign} {self.target:g}: {verdict})"


def load() -> str:
    """The machine's load average, which every timing depends on."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "load average unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def report(bench: str, figures: list[Figure], *, as_json: bool = False) -> int:
    """Print the figures; exit status 1 when a judged figure missed its target."""
    print(f"{bench} ({load()})")
    for f in figures:
        print(f.line())
    if as_json:
        data = {f.name: {"value": f.value, "target": f.target, "met": f.met} for f in figures}
        print(json.dumps({"bench": bench, "load": os.getloadavg()[0], "figures": data}))
    return 1 if any(f.met is False for f in figures) else 0
