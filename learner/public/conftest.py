"""Public tests of the exercises: `make check` runs them on exercises/ (the kit's own tests
also on its reference code).

Each test carries `@pytest.mark.exercise("<id>")` so results can be grouped per exercise, and
imports the code under test through a fixture named after its module, so that a module that does
not import (a syntax error, a typo) fails its own tests instead of stopping the collection.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from learner import manifest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        default="exercises",
        help="package whose modules are tested: exercises (yours, default) or solutions",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exercise(id): the exercises.toml exercise a test checks")
    import torch

    torch.set_num_threads(1)  # tensors of a few dozen entries: a thread pool only adds waiting


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known, dropped = {e.id for e in manifest.curriculum()}, set(manifest.dropped())
    for item in items:
        marks = list(item.iter_markers("exercise"))
        if len(marks) != 1 or len(marks[0].args) != 1 or marks[0].args[0] not in known:
            raise pytest.UsageError(
                f"{item.nodeid}: mark it with one exercise(id) from the manifest"
            )
    # exercises.toml's `drop`: not part of this course, so their tests do not run
    gone = [item for item in items if item.get_closest_marker("exercise").args[0] in dropped]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = [item for item in items if item not in gone]


def _module(name: str):  # type: ignore[no-untyped-def]
    @pytest.fixture(name=name)
    def load(request: pytest.FixtureRequest) -> ModuleType:
        return importlib.import_module(f"{request.config.getoption('target')}.{name}")

    load.__doc__ = f"The module {name} of the package under test."
    return load


simple_attention = _module("simple_attention")
trainable_attention = _module("trainable_attention")
numpy_attention = _module("numpy_attention")
causal_attention = _module("causal_attention")
multihead_attention = _module("multihead_attention")
