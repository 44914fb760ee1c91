"""The curriculum manifest (exercises.toml): every exercise once, in teaching order.

Its top-level `drop = ["id", ...]` line removes exercises from the course: load() (what every
road reads: stubs, make check, notebooks, the graders) leaves them out; curriculum() keeps them.
"""

from __future__ import annotations

import ast
import difflib
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
DROP = "drop"  # the top-level key listing the exercises a course does not teach
EXAMPLE = "MultiHeadAttentionWrapper"


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
    # per hint, what it answers: mistake names of learner/mistakes/ and public test functions
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
def curriculum(path: Path = MANIFEST) -> tuple[Exercise, ...]:
    """Every exercise of exercises.toml in teaching order, the dropped ones too; raises ValueError
    on a malformed manifest."""
    with open(path, "rb") as f:
        raw = tomllib.load(f).get("exercise", [])
    exercises = []
    for i, entry in enumerate(raw):
        if DROP in entry:  # TOML puts a key written below a table into that table
            raise ValueError(
                f"{path.name}: exercise #{i + 1} ({entry.get('id', '?')}) has a {DROP} key: "
                f"write the {DROP} line above the first [[exercise]]"
            )
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


def _drop_line(path: Path) -> str:
    """`exercises.toml:N` of the drop line, for messages."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.split("=")[0].strip() == DROP:
            return f"{path.name}:{n}"
    return path.name


@cache
def dropped(path: Path = MANIFEST) -> tuple[str, ...]:
    """The ids of `drop = [...]`: exercises this course does not teach (no stub, no check, no
    points). ValueError naming the line for an unknown id, and for an exercise that an exercise
    still taught calls (its reference solution names it)."""
    with open(path, "rb") as f:
        value = tomllib.load(f).get(DROP, [])
    where = _drop_line(path)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'{where}: {DROP} is a list of exercise ids, e.g. {DROP} = ["{EXAMPLE}"]')
    known = [e.id for e in curriculum(path)]
    for name in value:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; exercises: {', '.join(known)}"
            raise ValueError(f"{where}: {DROP} names {name!r}, which is not an exercise{hint}")
    solutions = path.parent / "solutions"
    if solutions.is_dir():  # the kit (a student bundle has no solutions: checked at release)
        for name in value:
            users = dependants(name, [e for e in curriculum(path) if e.id not in value], solutions)
            if users:
                raise ValueError(
                    f"{where}: {name} cannot be dropped: {', '.join(users)} "
                    f"(still taught) call{'s' if len(users) == 1 else ''} it; drop "
                    f"{'it' if len(users) == 1 else 'them'} too, or keep {name}"
                )
    return tuple(dict.fromkeys(value))


def dependants(name: str, taught: list[Exercise], solutions: Path) -> list[str]:
    """The exercises among `taught` whose reference definition names `name`."""
    users = []
    for module in dict.fromkeys(e.module for e in taught):
        tree = ast.parse((solutions / f"{module}.py").read_text(encoding="utf-8"))
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for e in taught:
            node = defs.get(e.id) if e.module == module else None
            if node is not None and e.id != name and name in _names(node):
                users.append(e.id)
    return users


def _names(node: ast.AST) -> set[str]:
    """Every name and attribute a definition mentions."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


@cache
def load(path: Path = MANIFEST) -> tuple[Exercise, ...]:
    """The exercises this course teaches, in teaching order: the curriculum without `drop`."""
    gone = dropped(path)
    return tuple(e for e in curriculum(path) if e.id not in gone)


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
