"""Mistakes that keep every value right and break the training of later chapters: an output cut
from the graph (a detach, a trip through numpy or Python numbers, a no_grad block) and an input
changed in place.

They cannot be told by what the code returns, only by what the call did: the worker notes what
cut the graph while the code ran (backprop.Symptoms) and which arguments it changed.
Any torch exercise can make them, so they are listed once, not per exercise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backprop
from . import Mistake


def _by_behaviour(*args: Any, **kwargs: Any) -> None:
    """No output to compare: these mistakes are told by what the call did."""
    return None


NUMPY = Mistake(
    "numpy round trip",
    "the computation goes through numpy (.numpy(), then torch.from_numpy), and autograd cannot "
    "follow a tensor through numpy, so backward stops there: compute with torch operations all "
    "the way",
    _by_behaviour,
)
PYTHON = Mistake(
    "python numbers",
    "the computation goes through Python numbers (float(t), t.item(), t.tolist(), math.exp), "
    "which autograd cannot follow, so no gradient flows back through them: keep every step a "
    "torch operation on tensors (torch.exp, .sum(), indexing)",
    _by_behaviour,
)
NO_GRAD = Mistake(
    "no_grad",
    "it is computed under torch.no_grad() (or torch.inference_mode()), which records no graph, "
    "so no gradient flows back through it: take the no_grad block out",
    _by_behaviour,
)
DETACHED = Mistake(
    "detached",
    "the output was detached from the graph (.detach() or .data on the way out), so backward "
    "stops there and nothing before it learns: return the tensor itself",
    _by_behaviour,
)
IN_PLACE = Mistake(
    "in place",
    "an in-place operation on the argument (x -= ..., x.sub_(...), x[...] = ...) changes the "
    "caller's tensor: compute a new tensor instead (shifted = x - ...)",
    _by_behaviour,
)

# the hint for any of them, in place of the exercise's own (which are about its values)
HINT = (
    "autograd records every torch operation on a tensor that requires a gradient, and backward "
    "follows that record back to the inputs and parameters (book appendix A.4): a step outside "
    "torch (.numpy(), float(...), .item()), a .detach(), a torch.no_grad() block, or an argument "
    "overwritten in place breaks it"
)

BY_SYMPTOM = {
    backprop.NUMPY: NUMPY,
    backprop.PYTHON: PYTHON,
    backprop.NO_GRAD: NO_GRAD,
    backprop.DETACH: DETACHED,
}
MISTAKES = [NUMPY, PYTHON, NO_GRAD, DETACHED, IN_PLACE]


def diagnose(symptoms: Iterable[str]) -> str | None:
    """The sentence for what cut the graph, the likeliest first (numpy comes with a detach)."""
    found = set(symptoms)
    for symptom, mistake in BY_SYMPTOM.items():
        if symptom in found:
            return mistake.says
    return None
