"""The curriculum manifest (exercises.toml): every exercise once, in teaching order."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MANIFEST = ROOT / "exercises.toml"


@dataclass(frozen=True)
class Exercise:
    id: str
    module: str
    title: str
    points: float
    source: str
    offlimits: tuple[str, ...]
    todo: str
    hints: tuple[str, ...]
    # per hint, what it answers: mistake names of autograder/mistakes/ and public test functions
    # (empty: a hint for any failure)
    answers: tuple[tuple[str, ...], ...] = ()

    def hint_for(self, test: str = "", mistake_names: tuple[str, ...] = ()) -> str | None:
        """The hint that fits a failure: the first one answering a mistake it was diagnosed as,
        else one answering the failed test (`test_x[param]` counts as `test_x`), else the first
        hint that answers nothing in particular, else the first."""
        tagged = list(zip(self.hints, self.answers or [()] * len(self.hints), strict=True))
        for wanted in (*mistake_names, test.split("[")[0]):
            for text, answers in tagged:
                if wanted and wanted in answers:
                    return text
        general = [text for text, answers in tagged if not answers]
        return (general or list(self.hints) or [None])[0]


def _hints(entry: dict, where: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """hints = ["text", { text = "...", answers = ["mistake or test", ...] }, ...]."""
    texts, answers = [], []
    for hint in entry["hints"]:
        if isinstance(hint, str):
            texts.append(hint)
            answers.append(())
        elif isinstance(hint, dict) and isinstance(hint.get("text"), str):
            texts.append(hint["text"])
            answers.append(tuple(hint.get("answers", ())))
        else:
            raise ValueError(f"{where}: a hint is a string or {{ text = ..., answers = [...] }}")
    return tuple(texts), tuple(answers)


@cache
def load(path: Path = MANIFEST) -> tuple[Exercise, ...]:
    """All exercises in teaching order; raises ValueError on a malformed manifest."""
    with open(path, "rb") as f:
        raw = tomllib.load(f).get("exercise", [])
    exercises = []
    for i, entry in enumerate(raw):
        try:
            hints, answers = _hints(entry, f"{path.name}: exercise #{i + 1}")
            exercises.append(
                Exercise(
                    id=entry["id"],
                    module=entry["module"],
                    title=entry["title"],
                    points=float(entry["points"]),
                    source=entry.get("source", ""),  # instructors' provenance: not released
                    offlimits=tuple(entry.get("offlimits", ())),
                    todo=entry["todo"],
                    hints=hints,
                    answers=answers,
                )
            )
        except KeyError as missing:
            raise ValueError(f"{path.name}: exercise #{i + 1} lacks {missing}") from None
    ids = [e.id for e in exercises]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"{path.name}: duplicate exercise ids {sorted(dupes)}")
    return tuple(exercises)


def by_id() -> dict[str, Exercise]:
    return {e.id: e for e in load()}


def modules() -> list[str]:
    """Module names in teaching order, each once."""
    return list(dict.fromkeys(e.module for e in load()))


def select(selector: str | None) -> list[Exercise]:
    """Exercises named by an id or a module name (None: all); ValueError for an unknown name."""
    exercises = load()
    if not selector:
        return list(exercises)
    chosen = [e for e in exercises if selector in (e.id, e.module)]
    if not chosen:
        known = ", ".join([*modules(), *(e.id for e in exercises)])
        raise ValueError(f"no exercise or topic named {selector!r}; choose one of: {known}")
    return chosen
