"""The worked examples in the exercises' docstrings (`>>> ...` with the printed result under it):
each one, run on your code, must print what the docstring shows (learner/examples.py)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from learner import examples, manifest, pristine
from learner.mistakes import Case
from learner.public.expect import expect_close


def _documented() -> list[Any]:
    stubs = pristine.load()
    cases = []
    for e in manifest.load():
        for i, example in enumerate(examples.of_source(stubs.get(e.module, ""), e.id)):
            cases.append(
                pytest.param(e.module, example, marks=pytest.mark.exercise(e.id), id=f"{e.id}-{i}")
            )
    return cases


DOCUMENTED = _documented()

if DOCUMENTED:  # an empty parametrisation would show as a skipped test

    @pytest.mark.parametrize(("module", "example"), DOCUMENTED)
    def test_docstring_example(
        module: str, example: examples.Example, request: pytest.FixtureRequest
    ) -> None:
        """Does the example in its docstring give the result printed there?"""
        fn = getattr(request.getfixturevalue(module), example.exercise)
        args = copy.deepcopy(example.args)
        got = fn(*args, **copy.deepcopy(example.kwargs))
        expect_close(
            got,
            example.expected,
            what=f">>> {example.call}",
            atol=example.atol,
            source="the example in its docstring",
            kind=_kind(example.expected),
            case=Case(example.exercise, example.args, example.kwargs),
        )


def _kind(expected: Any) -> str:
    if isinstance(expected, dict):  # a state_dict: the kind of its entries
        return _kind(next(iter(expected.values()), None))
    if isinstance(expected, np.ndarray):
        return "numpy"
    return "number" if isinstance(expected, (int, float)) else "torch"
