"""Worked examples in docstrings (learner/examples.py): what is read from them, what is refused,
and the public test and hidden check derived from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import ROOT
from autograder.grading import suite
from learner import examples, manifest
from learner.public.expect import fixture

DOC = """Entropy of each row.

    >>> entropy(torch.tensor([[0.5, 0.5],
    ...                       [1.0, 0.0]]))
    tensor([0.6931, 0.0000])
    >>> entropy(np.array([0.25, 0.75]), dim=-1)
    0.562
"""


def test_a_call_continued_on_dots_and_its_printed_result_are_read() -> None:
    first, second = examples.parse(DOC, "entropy")
    assert torch.equal(first.args[0], torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    assert first.args[0].dtype == torch.float32
    assert torch.equal(first.expected, torch.tensor([0.6931, 0.0]))
    assert first.atol == pytest.approx(1e-4)  # four printed decimals
    assert isinstance(second.args[0], np.ndarray) and second.args[0].dtype == np.float64
    assert second.kwargs == {"dim": -1}
    assert second.expected == 0.562 and second.atol == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (">>> other(1)\n1", "an example must call entropy(...)"),
        (">>> entropy(__import__('os').system('true'))\n0", "is not literals only"),
        (">>> entropy(torch.tensor([1.0]).exp())\n0", "is not literals only"),
        (">>> entropy(torch.tensor([1.0], device='cuda'))\n0", "takes only dtype="),
        (">>> entropy(1)", "prints no result under it"),
        (">>> entropy(1\n2", "does not parse"),
    ],
)
def test_anything_but_a_call_on_literals_is_refused_by_name(doc: str, says: str) -> None:
    """Nothing in a docstring runs: each refusal names the exercise and what is wrong."""
    with pytest.raises(examples.ExampleError, match=r"^entropy: ") as e:
        examples.parse(doc, "entropy")
    assert says in str(e.value)


def test_the_attention_scores_example_is_the_cat_ran_fixture() -> None:
    """Its numbers are those typed from the course notes' "The cat ran" example (the fixture
    records the document and step)."""
    source = (ROOT / "solutions" / "simple_attention.py").read_text(encoding="utf-8")
    (example,) = examples.of_source(source, "attention_scores")
    cat = fixture("doc004_cat_ran")
    inputs = np.array(cat["inputs"].value, dtype=np.float32)
    assert np.array_equal(example.args[1].numpy(), inputs)
    assert np.array_equal(example.args[0].numpy(), inputs[cat["query_index"].value])
    assert np.allclose(example.expected.numpy(), cat["attn_scores"].value, atol=1e-6)


def test_each_example_becomes_one_hidden_check_of_weight_one() -> None:
    """discover() adds a check per docstring example of the reference, named after it."""
    checks = [c for c in suite.discover() if c.exercise == "attention_scores"]
    derived = [c for c in checks if c.name == "test_attention_scores_example_1"]
    assert len(derived) == 1 and derived[0].weight == 1.0
    points = manifest.by_id()["attention_scores"].points
    assert sum(c.points for c in checks) == pytest.approx(points)
