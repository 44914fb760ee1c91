"""What a call's backward and side effects report (learner/backprop.py), through the worker's
own request handling, and how a graph cut is named (learner/mistakes/graph.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from autograder.grading import protocol
from autograder.grading.student import Student
from autograder.grading.worker import Session
from learner import backprop
from learner.mistakes import graph


def _scaled(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def _detached(x: torch.Tensor) -> torch.Tensor:
    return (x * 2).detach()


def _data(x: torch.Tensor) -> torch.Tensor:
    return (x * 2).data


def _numpy(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(x.detach().numpy() * 2)


def _python(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor([math.exp(float(v)) for v in x])


def _no_grad(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return x * 2


def _in_place(x: torch.Tensor) -> torch.Tensor:
    x -= x.max()
    return x


def _pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x * 2, x * 3


FUNCTIONS = {f.__name__: f for f in (_scaled, _detached, _data, _numpy, _python, _no_grad,
                                     _in_place, _pair)}  # fmt: skip


class _Direct:
    """A channel that answers with an in-process worker Session over FUNCTIONS (no sandbox)."""

    def __init__(self) -> None:
        self.session = Session(lambda module, name: FUNCTIONS[name])

    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        data, arrays = protocol.read_frame(_reader(frame))
        return protocol.read_frame(_reader(self.session.handle(data, arrays)))


def _reader(frame: bytes) -> Any:
    view = memoryview(frame)

    def read_exact(n: int) -> bytes:
        nonlocal view
        out, view = bytes(view[:n]), view[n:]
        return out

    return read_exact


@pytest.fixture
def student() -> Student:
    return Student(_Direct(), lambda exercise: ("m", exercise))


X = torch.tensor([0.5, -1.0, 2.0])
WEIGHT = torch.tensor([1.0, 2.0, -1.0])


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
@pytest.mark.parametrize(
    ("name", "symptom"),
    [
        ("_detached", backprop.DETACH),
        ("_data", backprop.DETACH),
        ("_numpy", backprop.NUMPY),
        ("_python", backprop.PYTHON),
        ("_no_grad", backprop.NO_GRAD),
    ],
)
def test_a_cut_graph_reaches_no_input_and_says_what_cut_it(
    student: Student, name: str, symptom: str
) -> None:
    """Is the gradient of a cut output None, with the cut among the symptoms, the value kept?"""
    value, grads = student.gradients(name, (X,), (0,), [WEIGHT])
    assert grads.inputs == [None]
    assert symptom in grads.symptoms
    assert grads.problem == ""
    assert value.array is not None and np.allclose(value.array, FUNCTIONS[name](X.clone()))


def test_a_right_gradient_comes_back_as_plain_numbers(student: Student) -> None:
    """d/dx sum(2x * w) = 2w, sent back as an array, with nothing cut."""
    _, grads = student.gradients("_scaled", (X,), (0,), [WEIGHT])
    assert grads.symptoms == []
    assert isinstance(grads.inputs[0], np.ndarray)
    assert np.array_equal(grads.inputs[0], [2.0, 4.0, -2.0])


def test_tuple_outputs_are_weighted_each(student: Student) -> None:
    """(2x, 3x) weighted by (w, w): the gradient is 5w."""
    _, grads = student.gradients("_pair", (X,), (0,), [WEIGHT, WEIGHT])
    assert np.array_equal(grads.inputs[0], [5.0, 10.0, -5.0])


def test_a_wrong_shaped_output_says_why_no_backward_ran(student: Student) -> None:
    _, grads = student.gradients("_scaled", (X,), (0,), [torch.ones(4)])
    assert grads.problem == "the output has shape [3], expected [4]"
    _, grads = student.gradients("_pair", (X,), (0,), [WEIGHT])
    assert grads.problem == "returned 2 outputs, expected 1"


def test_an_in_place_change_of_an_argument_is_reported(student: Student) -> None:
    """A plain call reports which arguments it changed; a clean one reports none."""
    student.call("_in_place", X)
    assert student.changed == [0]
    student.call("_scaled", X)
    assert student.changed == []
    _, grads = student.gradients("_in_place", (X,), (0,), [WEIGHT])  # one request: no backward
    assert student.changed == [0] and grads.inputs == []
    _, grads = student.gradients("_scaled", (X,), (0,), [WEIGHT])
    assert student.changed == [] and grads.inputs[0] is not None
    before = backprop.snapshot([X.clone(), np.ones(2), 3])
    assert backprop.changed(before, [X.clone() + 1, np.ones(2), 3]) == [0]


def test_the_likeliest_cut_is_named() -> None:
    """numpy first (a .detach().numpy() shows both), then Python numbers, no_grad, detach."""
    assert graph.diagnose([backprop.DETACH, backprop.NUMPY]) == graph.NUMPY.says
    assert graph.diagnose([backprop.DETACH, backprop.PYTHON]) == graph.PYTHON.says
    assert graph.diagnose([backprop.DETACH]) == graph.DETACHED.says
    assert graph.diagnose([backprop.NO_GRAD]) == graph.NO_GRAD.says
    assert graph.diagnose([]) is None


class _Doubles(torch.nn.Module):
    """Forward doubles its input in place (x *= 2) before a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x *= 2
        return self.lin(x)


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_a_module_changing_its_input_in_place_is_named_not_an_autograd_error() -> None:
    """A forward that changes x in place is reported as such (no backward runs), and a clean
    one gets the gradients of x and of each parameter."""
    classes = {"_Doubles": _Doubles, "_Linear": _Linear}
    channel = _Direct()
    channel.session = Session(lambda module, name: classes[name])
    student = Student(channel, lambda exercise: ("m", exercise))
    x = torch.ones(4, 3)
    run = student.module("_Doubles", inputs=(x,), backward=[torch.ones(4, 2)])
    assert run.changed == [0]
    torch.manual_seed(0)
    run = student.module("_Linear", inputs=(x,), backward=[torch.ones(4, 2)], seed=0)
    assert run.changed == [] and run.grads is not None
    assert set(run.grads.parameters) == {"lin.weight", "lin.bias"}
    assert np.allclose(run.grads.parameters["lin.bias"], [4.0, 4.0])  # 4 rows, weight 1 each
    assert np.allclose(run.grads.inputs[0], np.ones((4, 2)) @ run.parameters["lin.weight"])
