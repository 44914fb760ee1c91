"""Run the hidden suites on one submission with pytest, for an instructor looking closer:

    pytest autograder/hidden --submission DIR [--seed N]

DIR holds exercises/<module>.py (or <module>.py). Its code runs in one sandboxed worker for the
whole session, as in a batch; --seed picks the random inputs (default: a fresh seed, printed in
the header so that a run can be repeated).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from learner import manifest

from ..grading.isolate import SandboxChannel, Zygote
from ..grading.student import Student, StudentError
from ..grading.suite import Inputs, Reference


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("attention-kit hidden suites")
    group.addoption("--submission", metavar="DIR", help="folder holding the student's modules")
    group.addoption("--seed", type=int, default=None, help="run seed for the random inputs")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("submission") and not config.option.collectonly:
        raise pytest.UsageError("pass the submission to grade: --submission DIR")
    if config.getoption("seed") is None:
        config.option.seed = secrets.randbits(31)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hidden suites: run seed {config.option.seed} (repeat with --seed {config.option.seed})"


def read_submission(folder: Path) -> dict[str, str]:
    """module -> source for every module found in folder/exercises/ or at the top of folder."""
    sources = {}
    for module in manifest.modules():
        for path in (folder / "exercises" / f"{module}.py", folder / f"{module}.py"):
            if path.is_file():
                sources[module] = path.read_text(encoding="utf-8")
                break
    return sources


@pytest.fixture(scope="session")
def student(request: pytest.FixtureRequest) -> Iterator[Student]:
    folder = request.config.getoption("submission")
    sources = read_submission(Path(folder))
    if not sources:
        raise pytest.UsageError(f"{folder} holds none of {', '.join(manifest.modules())}")
    exercises = manifest.by_id()
    zygote = Zygote()
    channel = SandboxChannel(zygote, 0, sources)
    try:
        yield Student(
            channel,
            lambda exercise: (exercises[exercise].module, exercise),
            lambda exercise: exercises[exercise].offlimits,
        )
    finally:
        channel.stop()
        zygote.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[pytest.TestReport]:
    """A failure of the student's code reads as the student would see it, not as our traceback."""
    report: pytest.TestReport = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(StudentError):
        error = call.excinfo.value
        report.longrepr = f"{error.kind}: {error.message}\n{error.traceback}".rstrip()
    return report


@pytest.fixture(scope="session")
def ref() -> Reference:
    return Reference()


@pytest.fixture
def inputs(request: pytest.FixtureRequest) -> Inputs:
    """The same inputs the batch grader draws for this check with this run seed."""
    return Inputs(request.config.option.seed, request.node.name)
