"""Properties of attention, drawn by hypothesis, held by the reference solutions."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from learner.compare import FLOAT32_ATOL
from learner.public import oracle
from solutions import (
    causal_attention,
    multihead_attention,
    numpy_attention,
    simple_attention,
    trainable_attention,
)

EXAMPLES = settings(max_examples=25, deadline=None)
ROW_SUM_ATOL = FLOAT32_ATOL
finite = st.floats(-20, 20, width=32)


@st.composite
def matrices(draw: st.DrawFn, min_n: int = 1, max_n: int = 6, max_d: int = 5) -> torch.Tensor:
    """A float32 [n, d] tensor of moderate values."""
    n, d = draw(st.integers(min_n, max_n)), draw(st.integers(1, max_d))
    return torch.from_numpy(draw(arrays(np.float32, (n, d), elements=finite)))


@st.composite
def batches(draw: st.DrawFn, d_in: int = 3) -> torch.Tensor:
    """A float32 [b, n, d_in] batch with 2 <= n <= 6."""
    b, n = draw(st.integers(1, 2)), draw(st.integers(2, 6))
    return torch.from_numpy(draw(arrays(np.float32, (b, n, d_in), elements=finite)))


def _close(a: torch.Tensor, b: torch.Tensor | np.ndarray, atol: float = FLOAT32_ATOL) -> bool:
    return np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), atol=atol)


@EXAMPLES
@given(x=matrices(), shift=st.floats(-50, 50))
def test_softmax_rows_sum_to_one_and_ignore_shifts(x: torch.Tensor, shift: float) -> None:
    """Do softmax_stable rows sum to 1, and is softmax(x + c) == softmax(x)?"""
    w = simple_attention.softmax_stable(x)
    assert torch.all(w >= 0)
    assert _close(w.sum(-1), np.ones(x.shape[0]), ROW_SUM_ATOL)
    assert _close(simple_attention.softmax_stable(x + shift), w, 1e-4)


@EXAMPLES
@given(x=matrices(max_d=4), d_k=st.integers(1, 64))
def test_scaled_weights_match_the_oracle(x: torch.Tensor, d_k: int) -> None:
    """Are the scaled weights softmax(s / sqrt(d_k)), each row summing to 1?"""
    w = trainable_attention.scaled_attention_weights(x, d_k)
    assert _close(w, oracle.softmax(x.double().numpy() / d_k**0.5))
    assert _close(w.sum(-1), np.ones(x.shape[0]), ROW_SUM_ATOL)


@EXAMPLES
@given(
    scores=arrays(
        np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-1e3, 1e3)
    )
)
def test_numpy_softmax_rows(scores: np.ndarray) -> None:
    """Does softmax_rows stay finite and give rows of positive weights summing to 1?"""
    w = numpy_attention.softmax_rows(scores)
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert np.allclose(w.sum(axis=1), 1.0)


@EXAMPLES
@given(scores=st.integers(2, 6).flatmap(lambda n: arrays(np.float32, (2, n, n), elements=finite)))
def test_masked_entries_are_exactly_zero(scores: np.ndarray) -> None:
    """Are the future weights exactly 0, and do the rows still sum to 1?"""
    s = torch.from_numpy(scores)
    future = torch.from_numpy(oracle.future(s.shape[-1]))
    for w in (
        causal_attention.causal_attention_weights(s, 4),
        causal_attention.mask_and_renormalize(torch.softmax(s, dim=-1)),
    ):
        assert torch.all(w[..., future] == 0)
        assert _close(w.sum(-1), np.ones(w.shape[:-1]), ROW_SUM_ATOL)


@EXAMPLES
@given(x=batches(), t=st.integers(0, 4), noise=finite, seed=st.integers(0, 2**16))
def test_changing_later_tokens_leaves_earlier_outputs(
    x: torch.Tensor, t: int, noise: float, seed: int
) -> None:
    """Changing tokens t+1 onwards: do outputs 0..t stay the same in every causal module?"""
    t = min(t, x.shape[1] - 2)
    changed = x.clone()
    changed[:, t + 1 :] += noise + 1.0
    torch.manual_seed(seed)
    modules = [
        causal_attention.CausalAttention(3, 4, 6, 0.0),
        multihead_attention.MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=2),
        multihead_attention.MultiHeadAttention(3, 4, 6, 0.0, num_heads=2),
    ]
    with torch.no_grad():
        for module in modules:
            assert _close(module(changed)[:, : t + 1], module(x)[:, : t + 1]), type(module).__name__


@EXAMPLES
@given(x=matrices(min_n=2, max_d=4), seed=st.integers(0, 2**16))
def test_permuting_tokens_permutes_outputs(x: torch.Tensor, seed: int) -> None:
    """Without a mask, does shuffling the tokens (keys and values together) shuffle the outputs?"""
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    ws = [
        torch.randn(x.shape[1], 3, generator=torch.Generator().manual_seed(seed + i))
        for i in range(3)
    ]
    scale = 0.25  # keep the scores moderate: float32 softmax of huge scores is a step function
    assert _close(
        simple_attention.all_context_vectors(scale * x[perm]),
        simple_attention.all_context_vectors(scale * x)[perm],
        1e-4,
    )
    assert _close(
        trainable_attention.self_attention(scale * x[perm], *ws),
        trainable_attention.self_attention(scale * x, *ws)[perm],
        1e-3,
    )


@EXAMPLES
@given(x=batches(d_in=4), seed=st.integers(0, 2**16), heads=st.sampled_from([1, 2, 3, 6]))
def test_multi_head_matches_the_oracle(x: torch.Tensor, seed: int, heads: int) -> None:
    """Does MultiHeadAttention match the oracle built from its own weights, for any head count?"""
    torch.manual_seed(seed)
    mha = multihead_attention.MultiHeadAttention(4, 6, 8, 0.0, num_heads=heads)
    x = x / 8  # moderate scores
    expected = oracle.multi_head(
        x.double().numpy(),
        *(
            getattr(mha, n).weight.detach().double().numpy()
            for n in ("W_query", "W_key", "W_value")
        ),
        mha.out_proj.weight.detach().double().numpy(),
        mha.out_proj.bias.detach().double().numpy(),
        num_heads=heads,
    )
    with torch.no_grad():
        assert _close(mha(x), expected, 1e-4)
