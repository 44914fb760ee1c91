"""What the grader reuses: within one grading, the reference's results, keyed by the exact bytes of
their inputs (memo.Remembered), and the student's seeded builds that several checks compare
(Student.module's reuse); within a run, the static scans, keyed by the source they read
(grader.StaticScans). Reused results must be the ones a fresh computation gives, and a different
input must never be served another input's result."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.grading import grader, protocol
from autograder.grading.memo import Remembered, key_of
from autograder.grading.model import Submission
from autograder.grading.student import ModuleRun, Student, StudentError
from autograder.grading.suite import Reference
from autograder.grading.worker import Session
from autograder.hidden import helpers
from learner import manifest


def test_keys_tell_apart_dtype_shape_sign_and_kind() -> None:
    """Are inputs that differ in dtype, shape, the sign of a zero, or kind given different keys,
    and equal bytes the same key?"""
    x = torch.tensor([[0.5, 1.0]])
    assert key_of((x,)) == key_of((x.clone(),))
    assert key_of(x) != key_of(x.double())
    assert key_of(x) != key_of(x.reshape(2, 1))
    assert key_of(torch.tensor([0.0])) != key_of(torch.tensor([-0.0]))
    assert key_of(x) != key_of(x.numpy())
    assert key_of((1,)) != key_of((1.0,)) != key_of((True,))
    assert key_of({"dim": 0}) != key_of({"dim": 1})


class Counting:
    """A stand-in reference: counts the calls of its function; carries a class."""

    def __init__(self) -> None:
        self.calls = 0
        self.Module = torch.nn.Linear

    def double(self, x: torch.Tensor, *, factor: float = 2.0) -> torch.Tensor:
        self.calls += 1
        return x * factor


def remembered(ref: Counting) -> Remembered:
    return Remembered(ref)  # type: ignore[arg-type]


def test_equal_inputs_compute_once_and_get_copies_of_the_same_result() -> None:
    """Does a second call with equal inputs reuse the result, as a copy the caller may change?"""
    ref = Counting()
    r = remembered(ref)
    first = r.double(torch.tensor([1.0, 2.0]))
    first += 100  # a caller changing its copy must not change what the next one gets
    again = r.double(torch.tensor([1.0, 2.0]))
    assert ref.calls == 1 and r.hits == 1
    assert torch.equal(again, torch.tensor([2.0, 4.0]))


def test_different_inputs_are_computed_afresh() -> None:
    """Are another value, dtype or keyword argument each computed, never served a kept result?"""
    ref = Counting()
    r = remembered(ref)
    r.double(torch.tensor([1.0]))
    assert torch.equal(r.double(torch.tensor([3.0])), torch.tensor([6.0]))
    assert r.double(torch.tensor([1.0], dtype=torch.float64)).dtype == torch.float64
    assert torch.equal(r.double(torch.tensor([1.0]), factor=3.0), torch.tensor([3.0]))
    assert ref.calls == 4 and r.hits == 0


def test_classes_and_unkeyable_arguments_are_not_remembered() -> None:
    """Is a class handed out as it is, and a call with an object argument made every time?"""
    ref = Counting()
    r = remembered(ref)
    assert r.Module is torch.nn.Linear
    odd = np.array([object()], dtype=object)
    with pytest.raises(TypeError):
        r.double(odd)
    with pytest.raises(TypeError):
        r.double(odd)
    assert ref.calls == 2


def test_the_real_reference_gives_the_same_bytes_remembered_or_not() -> None:
    """Does the remembered reference return bit for bit what the reference itself computes?"""
    ref = Reference()
    r = Remembered(ref)
    x = torch.rand(3, 4, generator=torch.Generator().manual_seed(5))
    for _ in range(2):
        assert torch.equal(r.softmax_stable(x, dim=0), ref.softmax_stable(x, dim=0))
    assert r.hits == 1


def submission(tmp_path: Path, name: str, softmax_stable: str) -> Submission:
    module = manifest.by_id()["softmax_stable"].module
    return Submission(name, tmp_path, {module: softmax_stable})


def test_static_scans_follow_the_source_not_the_submission(tmp_path: Path) -> None:
    """With scans kept by source, does a clean source pass and an off-limits one lose, in any
    order and however often, each for its own bytes?"""
    exercise = manifest.by_id()["softmax_stable"]
    clean = "def softmax_stable(x, dim=-1):\n    e = (x - x.max()).exp()\n    return e / e.sum()\n"
    uses = "import torch\n\ndef softmax_stable(x, dim=-1):\n    return torch.softmax(x, dim)\n"
    evades = "import builtins\nbuiltins.__import__ = None\n" + clean
    scans = grader.StaticScans()  # one run's scans, kept by source
    for _ in range(2):
        assert scans(submission(tmp_path, "a", clean), exercise) is None
        lost = scans(submission(tmp_path, "b", uses), exercise)
        assert lost is not None and "torch.softmax" in lost
        evaded = scans(submission(tmp_path, "c", evades), exercise)
        assert evaded is not None and "scores 0" in evaded
    assert len(scans.found) == 5  # three evasion scans; off-limits scans of the two that pass it


class _Built(torch.nn.Module):
    """Counts its builds; its forward raises for inputs with more than 3 features."""

    built = 0

    def __init__(self) -> None:
        super().__init__()
        _Built.built += 1
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 3:
            raise ValueError("too wide")
        return self.linear(x)


class _Counting:
    """A channel answering from an in-process worker Session over _Built, counting requests."""

    def __init__(self) -> None:
        self.session = Session(lambda module, name: _Built)
        self.requests = 0

    def request(self, frame: bytes, timeout: float) -> tuple[dict, list[np.ndarray]]:
        self.requests += 1
        data, arrays = protocol.read_frame(io.BytesIO(frame).read)
        reply = self.session.handle(data, arrays, 0)
        return protocol.read_frame(io.BytesIO(reply).read)


def test_a_reused_build_is_answered_once_and_keeps_a_forward_error_apart() -> None:
    """With reuse, is the same seeded request answered once for the submission (another seed or
    input asks again), and does an exception in forward leave the parameters readable, with
    the student's exception in forward_error; without reuse, does it fail the whole request?"""
    channel = _Counting()
    student = Student(channel, lambda exercise: ("m", "Built"))
    ok, wide = torch.ones(1, 3), torch.ones(1, 4)
    _Built.built = 0
    first = student.module("Built", inputs=(ok,), seed=5, reuse=True, shapes=True)
    again = student.module("Built", inputs=(ok,), seed=5, reuse=True, shapes=True)
    assert channel.requests == 1 and _Built.built == 1
    assert first.parameter_shapes == again.parameter_shapes
    assert first.parameter_shapes == {"linear.weight": (2, 3), "linear.bias": (2,)}
    assert first.parameters == {} and first.buffer_shapes == {}  # shapes only: no values
    assert np.array_equal(first.outputs[0].array, again.outputs[0].array)
    student.module("Built", inputs=(ok,), seed=6, reuse=True, shapes=True)
    assert channel.requests == 2
    failed = student.module("Built", inputs=(wide,), seed=5, reuse=True, shapes=True)
    assert channel.requests == 3
    assert failed.outputs == [] and failed.parameter_shapes["linear.weight"] == (2, 3)
    assert failed.forward_error is not None and "too wide" in failed.forward_error.message
    with pytest.raises(StudentError, match="too wide"):
        student.module("Built", inputs=(wide,), seed=5, shapes=True)
    assert first.forward_error is None


class _Reseeded(_Built):
    """_Built after a seed of its own: other weights than _Built's after the request's seed."""

    def __init__(self) -> None:
        torch.manual_seed(1234)
        super().__init__()


class _Doubled(_Built):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


class _Drifting(_Built):
    """Changes its own weights each time it runs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.linear.weight.add_(1.0)
        return super().forward(x)


class _Wider(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class _Listed(torch.nn.Module):
    """Weights load_state_dict does not see: layers in a plain list, a tensor in a dict in a
    plain attribute; and a list holding the module itself."""

    def __init__(self, heads: int = 2) -> None:
        super().__init__()
        self.heads = [torch.nn.Linear(3, 2) for _ in range(heads)]
        self.extra = {"scale": torch.rand(2)}
        self.me = [self]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(h(x) for h in self.heads) * self.extra["scale"]


class _ListedReseeded(_Listed):
    def __init__(self) -> None:
        torch.manual_seed(1234)
        super().__init__()


class _ListedLonger(_Listed):
    def __init__(self) -> None:
        super().__init__(heads=3)


def _twin_of(name: str, like: str) -> ModuleRun:
    classes = {
        "Built": _Built,
        "Reseeded": _Reseeded,
        "Doubled": _Doubled,
        "Drifting": _Drifting,
        "Wider": _Wider,
        "Listed": _Listed,
        "ListedReseeded": _ListedReseeded,
        "ListedLonger": _ListedLonger,
    }
    channel = _Counting()
    channel.session = Session(lambda module, wanted: classes[wanted])
    student = Student(channel, lambda exercise: ("m", exercise))
    x = torch.rand(2, 3)
    run = student.module(name, inputs=(x,), seed=5, shapes=True, like=(like, ()), reuse=True)
    assert channel.requests == 1 and run.twin is not None
    return run


def test_a_twin_takes_the_modules_state_and_runs_the_same_way() -> None:
    """With `like`, is the other class built in the same request, given the module's weights as
    they were before it ran (so a module seeded its own way matches it), and do other behaviour
    or other shapes show?"""
    reseeded = _twin_of("Reseeded", "Built")
    assert reseeded.twin is not None and reseeded.twin.load_error is None
    assert reseeded.twin.parameter_shapes == reseeded.parameter_shapes
    assert np.array_equal(reseeded.outputs[0].array, reseeded.twin.outputs[0].array)
    doubled = _twin_of("Doubled", "Built")
    assert doubled.twin is not None
    assert np.allclose(doubled.outputs[0].array, 2 * doubled.twin.outputs[0].array)
    drifting = _twin_of("Drifting", "Drifting")  # the twin starts from the state before forward
    assert drifting.twin is not None
    assert np.array_equal(drifting.outputs[0].array, drifting.twin.outputs[0].array)
    wider = _twin_of("Wider", "Built")
    assert wider.twin is not None and wider.twin.outputs == []
    assert wider.twin.load_error is not None and "size mismatch" in wider.twin.load_error.message
    assert wider.parameter_shapes["linear.weight"] == (4, 3)
    assert wider.twin.parameter_shapes["linear.weight"] == (2, 3)


def test_a_twin_takes_the_weights_its_state_dict_leaves_out() -> None:
    """Are layers in a plain list and tensors in plain attributes copied into the twin too (a
    factory that seeds torch itself, building a class that keeps its heads in a plain list,
    builds the right thing), with a module that holds itself copied once, and nothing copied
    where the two hold lists of other lengths?"""
    listed = _twin_of("ListedReseeded", "Listed")
    assert listed.twin is not None and listed.twin.load_error is None
    assert np.array_equal(listed.outputs[0].array, listed.twin.outputs[0].array)
    longer = _twin_of("ListedLonger", "Listed")
    assert longer.twin is not None and longer.twin.load_error is None
    assert longer.outputs[0].array.shape == longer.twin.outputs[0].array.shape
    assert not np.allclose(longer.outputs[0].array, longer.twin.outputs[0].array)


class _Garbled:
    """A channel whose reply's twin and load error are not what the worker sends."""

    def __init__(self, twin: object) -> None:
        self.twin = twin

    def request(self, frame: bytes, timeout: float) -> tuple[dict, list[np.ndarray]]:
        return {"outputs": [], "twin": self.twin}, []


@pytest.mark.parametrize(
    "twin",
    [
        "a string",
        12,
        None,
        {"load_error": 5, "parameters_shapes": "x", "outputs": {"a": 1}},
        {"load_error": {"kind": "made up", "message": 7}, "submodules": [1]},
    ],
)
def test_a_garbled_twin_reads_as_an_empty_module(twin: object) -> None:
    """Does a reply whose twin has the wrong types read as a twin with no layers, shapes or
    outputs; is a load error that is not a dict no error (as a forward error), and one of an
    unknown kind a protocol error?"""
    student = Student(_Garbled(twin), lambda exercise: ("m", exercise))
    run = student.module("Built", shapes=True, like=("Other", ()), reuse=True)
    assert run.twin is not None
    assert run.twin.outputs == [] and run.twin.submodules == {}
    assert run.twin.parameter_shapes == {} and run.twin.buffer_shapes == {}
    if isinstance(twin, dict) and isinstance(twin["load_error"], dict):
        assert run.twin.load_error is not None and run.twin.load_error.kind == "protocol"
    else:
        assert run.twin.load_error is None


def test_the_reference_modules_kept_are_bounded() -> None:
    """Is the same seeded build of the reference handed out again (one object), and do builds for
    more seeds than KEPT (a class of submissions, each with its own) keep only the last KEPT?"""
    first = helpers.build(torch.nn.Linear, 3, 2, seed=1)
    assert helpers.build(torch.nn.Linear, 3, 2, seed=1) is first
    for seed in range(2, helpers.KEPT + 10):
        helpers.build(torch.nn.Linear, 3, 2, seed=seed)
        helpers.forward(helpers.build(torch.nn.Linear, 3, 2, seed=seed), [torch.ones(1, 3)])
    assert len(helpers._BUILT) == len(helpers._OUTPUTS) == helpers.KEPT
    again = helpers.build(torch.nn.Linear, 3, 2, seed=1)
    assert again is not first and torch.equal(again.weight, first.weight)
