"""The inputs the public tests feed your code, built from the fixture files and fixed seeds."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .expect import fixture

RANDOM_SEEDS = (0, 1, 2)  # a few seeded random cases per property


def tokens(scenario: str) -> Tensor:
    """The token embeddings [n, d] of an example, as float32."""
    return torch.tensor(fixture(scenario)["inputs"].value, dtype=torch.float32)


def journey() -> Tensor:
    """ "Your journey starts with one step" [6, 3] (book section 3.3.1)."""
    return tokens("doc002_003_journey")


def cat_ran() -> Tensor:
    """ "The cat ran" [3, 3] (a worked example of notebooks/simple_attention.ipynb)."""
    return tokens("doc004_cat_ran")


def wars() -> Tensor:
    """ "wars not make one great" [5, 3] (notebooks/trainable_attention.ipynb)."""
    return tokens("doc001_wars_seed123")


def wars_weights() -> tuple[Tensor, Tensor, Tensor]:
    """W_query, W_key, W_value [3, 2]: torch.rand after manual_seed(123), in that order."""
    given = fixture("doc001_wars_seed123")
    d_in, d_out = given["d_in"].value, given["d_out"].value
    g = torch.Generator().manual_seed(given["seed"].value)
    return tuple(torch.rand(d_in, d_out, generator=g) for _ in range(3))  # type: ignore[return-value]


def batch() -> Tensor:
    """The book's batch: the journey tokens twice, [2, 6, 3]."""
    return torch.stack((journey(), journey()))


def manual_seed(seed: int) -> None:
    """torch.manual_seed(seed) for the CPU generator, the one these tests draw from.

    (torch.manual_seed also queues the seed for every GPU backend, with a stack trace each.)
    """
    torch.default_generator.manual_seed(seed)


def randn(seed: int, *shape: int) -> Tensor:
    """Seeded standard-normal float32 values (the global RNG is left alone)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def rand_np(seed: int, *shape: int) -> np.ndarray:
    """Seeded uniform [0, 1) float64 values for the numpy exercises."""
    return np.random.default_rng(seed).random(shape)


def f64(t: Tensor) -> np.ndarray:
    """A tensor's values as float64 numpy, for the oracle."""
    return t.detach().double().numpy()
