"""Remembered progress: `.attention-kit-state.json` in the student's workspace (git-ignored).

It holds which exercises passed at the last check, how many hints of each have been shown, and
when. `make check` records into it, `make hint` and `make watch` read it. It is written
atomically (a temp file, then a rename); a corrupt or unreadable file costs a one-line notice
and a fresh start, never a crash, and a workspace that cannot be written to only loses the memory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import atomic

STATE_NAME = ".attention-kit-state.json"
VERSION = 1


def state_path(workspace: Path | None = None) -> Path:
    """The state file of `workspace` (default: the current folder, where make runs)."""
    return (workspace or Path.cwd()) / STATE_NAME


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class State:
    passed: set[str] = field(default_factory=set)  # passing at the last check that ran them
    hints: dict[str, int] = field(default_factory=dict)  # how many hints shown, per exercise
    first_passed: dict[str, str] = field(default_factory=dict)  # when each first passed
    last_check: str = ""  # when a check last ran ("" = never)
    existed: bool = False  # read from a file (False: no file yet, or it was unreadable)

    def to_json(self) -> dict[str, object]:
        return {
            "version": VERSION,
            "last_check": self.last_check,
            "passed": sorted(self.passed),
            "first_passed": dict(sorted(self.first_passed.items())),
            "hints": dict(sorted(self.hints.items())),
        }


def _parse(raw: object) -> State:
    """A State from decoded JSON; ValueError when it is not the shape this module writes."""
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError("not a version-1 state")
    passed, hints = raw.get("passed", []), raw.get("hints", {})
    first, last = raw.get("first_passed", {}), raw.get("last_check", "")
    if not (isinstance(passed, list) and all(isinstance(p, str) for p in passed)):
        raise ValueError("'passed' is not a list of exercise ids")
    if not (isinstance(hints, dict) and all(type(n) is int and n >= 0 for n in hints.values())):
        raise ValueError("'hints' is not a map of exercise id to a count")
    if not (isinstance(first, dict) and all(isinstance(t, str) for t in first.values())):
        raise ValueError("'first_passed' is not a map of exercise id to a time")
    if not isinstance(last, str):
        raise ValueError("'last_check' is not a time")
    return State(set(passed), dict(hints), dict(first), last, existed=True)


def load(path: Path | None = None) -> State:
    """The remembered state; a fresh one (with a notice on stderr) if the file is unusable."""
    path = path or state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State()
    except (OSError, UnicodeDecodeError) as e:
        _notice(f"{path.name} could not be read ({_reason(e)}); starting from a fresh one")
        return State()
    try:
        return _parse(json.loads(text))
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        _notice(f"{path.name} was not a progress file this kit wrote ({e}); starting a fresh one")
        return State()


def save(state: State, path: Path | None = None) -> bool:
    """Write `state` atomically; on failure print one line and return False."""
    path = path or state_path()
    text = json.dumps(state.to_json(), indent=1) + "\n"
    try:
        atomic.write_text(path, text)
    except OSError as e:
        _notice(f"could not save your progress to {path} ({_reason(e)}); carrying on without it")
        return False
    return True


def record(results: dict[str, bool], path: Path | None = None) -> list[str]:
    """Remember which checked exercises pass; returns those passing now but not at the last check.

    Exercises not in `results` keep what was remembered. Before the first check nothing counts
    as newly passing (there is nothing to compare with).
    """
    path = path or state_path()
    state = load(path)
    stamp = now()
    newly = [ex for ex, ok in results.items() if ok and ex not in state.passed]
    for ex, ok in results.items():
        if ok:
            state.passed.add(ex)
            state.first_passed.setdefault(ex, stamp)
        else:
            state.passed.discard(ex)
    checked_before = bool(state.last_check)
    state.last_check = stamp
    save(state, path)
    return newly if checked_before else []


def forget(exercises: Iterable[str], path: Path | None = None) -> None:
    """Mark `exercises` as not passing (after a reset)."""
    path = path or state_path()
    state = load(path)
    state.passed.difference_update(exercises)
    save(state, path)


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__


def _notice(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)
