"""Every catalogued mistake, submitted: the reference with one minimal edit that makes it, graded
by `make check` and by the hidden suites, each message naming that mistake ("Looks like: ...").

EDITS maps a name to (module, [(old, new)], {exercise: mistake name}); the mistake names are
those of autograder/mistakes/ (an exercise that calls another inherits its mistake). One
subprocess runs make check on every submission, one zygote grades them all.
"""

# ruff: noqa: E501  (the edits are lines of the solutions, kept whole to be read as such)
from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from test_mistakes import check_each

from autograder import ROOT, manifest, mistakes
from autograder.grading.grader import Grader
from autograder.grading.model import Graded, Submission
from autograder.mistakes import graph

pytestmark = pytest.mark.slow
RUN_SEED = 20262
HEADS = "MultiHeadAttentionWrapper"

Edit = tuple[str, list[tuple[str, str]], dict[str, str]]

SUM = "    return scores / scores.sum(dim=-1, keepdim=True)"
NAIVE = "    e = torch.exp(x)\n    return e / e.sum(dim=-1, keepdim=True)"
SHIFT = "    shifted = x - x.amax(dim=dim, keepdim=True)  # largest entry per slice becomes 0"
STABLE = "    return e / e.sum(dim=dim, keepdim=True)"
WEIGHTS = "    return torch.softmax(all_attention_scores(inputs), dim=-1)"
SCALED = "    return torch.softmax(scores / d_k**0.5, dim=-1)"
QKV = "    return x @ W_query, x @ W_key, x @ W_value"
SA_QKV = "    queries, keys, values = qkv_projections(x, W_query, W_key, W_value)"
SA_SCORES = "\n    scores = queries @ keys.transpose(-2, -1)  # (n, n)"
SA_RETURN = "\n    return weights @ values  # (n, d_out)"
V2_SCALE = "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)\n        return"
V2_KV = "        keys = self.W_key(x)  # (n, d_out)\n        values = self.W_value(x)  # (n, d_out)"
V2_SCORES = "        scores = queries @ keys.transpose(-2, -1)  # (n, n)"
V2_RETURN = "        return weights @ values  # (n, d_out)"
ROWS_SHIFT = "    shifted = scores - scores.max(axis=1, keepdims=True)"
ROWS_SUM = "    return e / e.sum(axis=1, keepdims=True)"
NP_SCALED = "    scaled = Q @ K.T / np.sqrt(K.shape[1])  # (n, n)"
TRIU = "torch.triu(torch.ones(num_tokens, num_tokens, dtype=torch.bool), diagonal=1)"
RENORM = "    return masked / masked.sum(dim=-1, keepdim=True)"
CAUSAL_W = "    return torch.softmax(masked / d_k**0.5, dim=-1)"
CA_FILL = "        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / keys"
CA_SCALE = "        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)"
CA_BUFFER = '        self.register_buffer("mask", causal_mask(context_length))'
CA_KV = "        keys = self.W_key(x)  # (b, n, d_out)\n        values = self.W_value(x)  # (b, n, d_out)"
CA_SCORES = "        scores = queries @ keys.transpose(-2, -1)  # (b, n, n)"
CA_RETURN = "        return weights @ values  # (b, n, d_out)"
MHA_SCALE = "        weights = torch.softmax(scores / self.head_dim**0.5, dim=-1)"
MHA_FILL = "        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / self.head"
MHA_MASK = "torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), 1)"
MHA_MERGE = "        context = (weights @ values).transpose(1, 2)  # (b, n, h, head_dim)"
MHA_CUT = "        future = self.mask.bool()[:num_tokens, :num_tokens]  # (n, n)\n        scores = scores.masked_fill(future, -torch.inf)\n        weights = torch.softmax(scores / self.head"


def _causal(name: str, edits: list[tuple[str, str]]) -> Edit:
    """A CausalAttention edit: the wrapper's heads make the same mistake."""
    return ("causal_attention", edits, {"CausalAttention": name, HEADS: f"heads: {name}"})


EDITS: dict[str, Edit] = {
    # simple_attention
    "sum whole": ("simple_attention", [(SUM, "    return scores / scores.sum()")],
                  {"normalize_by_sum": "whole tensor"}),
    "sum columns": ("simple_attention", [(SUM, "    return scores / scores.sum(dim=0, keepdim=True)")],
                    {"normalize_by_sum": "columns"}),
    "sum no keepdim": ("simple_attention", [(SUM, "    return scores / scores.sum(dim=-1)")],
                       {"normalize_by_sum": "no keepdim"}),
    "naive whole": ("simple_attention", [(NAIVE, "    e = torch.exp(x)\n    return e / e.sum()")],
                    {"softmax_naive": "whole tensor"}),
    "naive columns": ("simple_attention",
                      [(NAIVE, "    e = torch.exp(x)\n    return e / e.sum(dim=0, keepdim=True)")],
                      {"softmax_naive": "columns"}),
    "naive no keepdim": ("simple_attention", [(NAIVE, "    e = torch.exp(x)\n    return e / e.sum(dim=-1)")],
                         {"softmax_naive": "no keepdim"}),
    "stable no shift": ("simple_attention", [(SHIFT, "    shifted = x")],
                        {"softmax_stable": "no max shift"}),
    "stable ignores dim": ("simple_attention",
                           [(SHIFT, SHIFT.replace("dim=dim", "dim=-1")),
                            (STABLE, STABLE.replace("dim=dim", "dim=-1"))],
                           {"softmax_stable": "ignores dim"}),
    "stable whole": ("simple_attention",
                     [(SHIFT, "    shifted = x - x.max()"), (STABLE, "    return e / e.sum()")],
                     {"softmax_stable": "whole tensor"}),
    "stable no keepdim": ("simple_attention", [(STABLE, "    return e / e.sum(dim=dim)")],
                          {"softmax_stable": "no keepdim"}),
    "stable max no keepdim": ("simple_attention", [(SHIFT, "    shifted = x - x.max(dim=dim).values")],
                              {"softmax_stable": "max no keepdim"}),
    "weights columns": ("simple_attention", [(WEIGHTS, WEIGHTS.replace("dim=-1", "dim=0"))],
                        {"all_attention_weights": "columns", "all_context_vectors": "columns"}),
    "weights whole": ("simple_attention",
                      [(WEIGHTS, "    s = all_attention_scores(inputs)\n"
                                 "    e = torch.exp(s - s.max())\n    return e / e.sum()")],
                      {"all_attention_weights": "whole", "all_context_vectors": "whole"}),
    "weights by sum": ("simple_attention",
                       [(WEIGHTS, "    s = all_attention_scores(inputs)\n"
                                  "    return s / s.sum(dim=-1, keepdim=True)")],
                       {"all_attention_weights": "sum", "all_context_vectors": "sum"}),
    "weights are scores": ("simple_attention", [(WEIGHTS, "    return all_attention_scores(inputs)")],
                           {"all_attention_weights": "scores", "all_context_vectors": "scores"}),
    "contexts are weights": ("simple_attention",
                             [("    return all_attention_weights(inputs) @ inputs",
                               "    return all_attention_weights(inputs)")],
                             {"all_context_vectors": "returns weights"}),
    "contexts transposed": ("simple_attention",
                            [("    return all_attention_weights(inputs) @ inputs",
                              "    return all_attention_weights(inputs).T @ inputs")],
                            {"all_context_vectors": "columns"}),
    # trainable_attention
    "qkv transposed": ("trainable_attention",
                       [(QKV, "    return x @ W_query.T, x @ W_key.T, x @ W_value.T")],
                       {"qkv_projections": "transposed", "self_attention": "transposed",
                        "SelfAttention_v1": "transposed"}),
    "qkv order": ("trainable_attention", [(QKV, "    return x @ W_query, x @ W_value, x @ W_key")],
                  {"qkv_projections": "keys and values swapped", "self_attention": "kv",
                   "SelfAttention_v1": "kv"}),
    "scaled by d_k": ("trainable_attention", [(SCALED, SCALED.replace("d_k**0.5", "d_k"))],
                      {"scaled_attention_weights": "d_k", "self_attention": "d_k",
                       "SelfAttention_v1": "d_k"}),
    "scaled none": ("trainable_attention", [(SCALED, SCALED.replace(" / d_k**0.5", ""))],
                    {"scaled_attention_weights": "none", "self_attention": "none",
                     "SelfAttention_v1": "none"}),
    "scaled times": ("trainable_attention", [(SCALED, SCALED.replace("/ d_k", "* d_k"))],
                     {"scaled_attention_weights": "times"}),
    "scaled columns": ("trainable_attention", [(SCALED, SCALED.replace("dim=-1", "dim=-2"))],
                       {"scaled_attention_weights": "columns", "self_attention": "columns",
                        "SelfAttention_v1": "columns"}),
    "scaled dim0": ("trainable_attention", [(SCALED, SCALED.replace("dim=-1", "dim=0"))],
                    {"scaled_attention_weights": "dim0"}),
    "attention d_in": ("trainable_attention",
                       [("weights = scaled_attention_weights(scores, keys.shape[-1])",
                         "weights = scaled_attention_weights(scores, x.shape[-1])")],
                       {"self_attention": "sqrt d_in", "SelfAttention_v1": "sqrt d_in"}),
    "attention kv": ("trainable_attention",
                     [(SA_QKV, "    queries, values, keys = qkv_projections(x, W_query, W_key, W_value)")],
                     {"self_attention": "kv", "SelfAttention_v1": "kv"}),
    "attention qk": ("trainable_attention",
                     [(SA_SCORES, "\n    scores = keys @ queries.transpose(-2, -1)  # (n, n)")],
                     {"self_attention": "qk", "SelfAttention_v1": "qk"}),
    "attention weights": ("trainable_attention", [(SA_RETURN, "\n    return weights  # (n, n)")],
                          {"self_attention": "weights", "SelfAttention_v1": "weights"}),
    "v2 d_k": ("trainable_attention", [(V2_SCALE, V2_SCALE.replace("keys.shape[-1] ** 0.5", "keys.shape[-1]"))],
               {"SelfAttention_v2": "d_k"}),
    "v2 none": ("trainable_attention", [(V2_SCALE, V2_SCALE.replace(" / keys.shape[-1] ** 0.5", ""))],
                {"SelfAttention_v2": "none"}),
    "v2 d_in": ("trainable_attention", [(V2_SCALE, V2_SCALE.replace("keys.shape[-1]", "x.shape[-1]"))],
                {"SelfAttention_v2": "sqrt d_in"}),
    "v2 columns": ("trainable_attention", [(V2_SCALE, V2_SCALE.replace("dim=-1", "dim=-2"))],
                   {"SelfAttention_v2": "columns"}),
    "v2 kv": ("trainable_attention",
              [(V2_KV, V2_KV.replace("self.W_key(x)", "KEY").replace("self.W_value(x)", "self.W_key(x)")
                .replace("KEY", "self.W_value(x)"))],
              {"SelfAttention_v2": "kv"}),
    "v2 qk": ("trainable_attention", [(V2_SCORES, V2_SCORES.replace("queries @ keys", "keys @ queries"))],
              {"SelfAttention_v2": "qk"}),
    "v2 weights": ("trainable_attention", [(V2_RETURN, "        return weights  # (n, n)")],
                   {"SelfAttention_v2": "weights"}),
    "v2 no bias": ("trainable_attention",
                   [(f"        {n} = self.W_{m}(x)  # (n, d_out)", f"        {n} = x @ self.W_{m}.weight.T")
                    for n, m in (("queries", "query"), ("keys", "key"), ("values", "value"))],
                   {"SelfAttention_v2": "no bias"}),
    "v2 weight matrices": ("trainable_attention",
                           [("        queries = self.W_query(x)  # (n, d_out)",
                             "        queries = x @ self.W_query.weight  # (n, d_out)")],
                           {"SelfAttention_v2": "linear transposed"}),
    # numpy_attention
    "rows no keepdims": ("numpy_attention", [(ROWS_SUM, "    return e / e.sum(axis=1)")],
                         {"softmax_rows": "no keepdims", "self_attention_numpy": "no keepdims"}),
    "rows no keepdims twice": ("numpy_attention",
                               [(ROWS_SHIFT, "    shifted = scores - scores.max(axis=1)"),
                                (ROWS_SUM, "    return e / e.sum(axis=1)")],
                               {"softmax_rows": "no keepdims twice",
                                "self_attention_numpy": "no keepdims twice"}),
    "rows axis 0": ("numpy_attention",
                    [(ROWS_SHIFT, ROWS_SHIFT.replace("axis=1", "axis=0")),
                     (ROWS_SUM, ROWS_SUM.replace("axis=1", "axis=0"))],
                    {"softmax_rows": "axis 0", "self_attention_numpy": "axis 0"}),
    "rows whole": ("numpy_attention",
                   [(ROWS_SHIFT, "    shifted = scores - scores.max()"),
                    (ROWS_SUM, "    return e / e.sum()")],
                   {"softmax_rows": "whole"}),
    "rows no shift": ("numpy_attention", [(ROWS_SHIFT, "    shifted = scores")],
                      {"softmax_rows": "no shift"}),
    "numpy none": ("numpy_attention", [(NP_SCALED, "    scaled = Q @ K.T  # (n, n)")],
                   {"self_attention_numpy": "none"}),
    "numpy d_k": ("numpy_attention", [(NP_SCALED, "    scaled = Q @ K.T / K.shape[1]  # (n, n)")],
                  {"self_attention_numpy": "d_k"}),
    "numpy d_v": ("numpy_attention", [(NP_SCALED, NP_SCALED.replace("K.shape", "V.shape"))],
                  {"self_attention_numpy": "sqrt d_v"}),
    "numpy d": ("numpy_attention", [(NP_SCALED, NP_SCALED.replace("K.shape", "X.shape"))],
                {"self_attention_numpy": "sqrt d"}),
    "numpy kv": ("numpy_attention",
                 [("    Q, K, V = X @ W_Q, X @ W_K, X @ W_V", "    Q, V, K = X @ W_Q, X @ W_K, X @ W_V")],
                 {"self_attention_numpy": "kv"}),
    "numpy pair": ("numpy_attention",
                   [("    return weights @ V, weights", "    return weights, weights @ V")],
                   {"self_attention_numpy": "pair"}),
    # causal_attention: the mask function, used by everything after it
    **{
        f"mask {name}": ("causal_attention", [(TRIU, triu)], {
            "causal_mask": name, "mask_and_renormalize": name, "causal_attention_weights": name,
            "CausalAttention": name, HEADS: f"heads: {name}"})
        for name, triu in (
            ("with diagonal", TRIU.replace("diagonal=1", "diagonal=0")),
            ("past", TRIU.replace("triu", "tril").replace("diagonal=1", "diagonal=-1")),
            ("past and diagonal", TRIU.replace("triu", "tril").replace("diagonal=1", "diagonal=0")),
        )
    },
    "renorm none": ("causal_attention", [(RENORM, "    return masked")],
                    {"mask_and_renormalize": "no renormalise"}),
    "renorm whole": ("causal_attention", [(RENORM, "    return masked / masked.sum()")],
                     {"mask_and_renormalize": "whole sum"}),
    "renorm columns": ("causal_attention", [(RENORM, RENORM.replace("dim=-1", "dim=-2"))],
                       {"mask_and_renormalize": "columns"}),
    "renorm no keepdim": ("causal_attention", [(RENORM, "    return masked / masked.sum(dim=-1)")],
                          {"mask_and_renormalize": "no keepdim"}),
    "causal zero": ("causal_attention",
                    [("causal_mask(scores.shape[-1]), -torch.inf)", "causal_mask(scores.shape[-1]), 0.0)")],
                    {"causal_attention_weights": "zero"}),
    "causal after softmax": ("causal_attention",
                             [("    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)\n"
                               + CAUSAL_W,
                               "    weights = torch.softmax(scores / d_k**0.5, dim=-1)\n"
                               "    return weights.masked_fill(causal_mask(scores.shape[-1]), 0.0)")],
                             {"causal_attention_weights": "after softmax"}),
    "causal no mask": ("causal_attention",
                       [("    masked = scores.masked_fill(causal_mask(scores.shape[-1]), -torch.inf)",
                         "    masked = scores")],
                       {"causal_attention_weights": "no mask"}),
    "causal d_k": ("causal_attention", [(CAUSAL_W, CAUSAL_W.replace("d_k**0.5", "d_k"))],
                   {"causal_attention_weights": "d_k"}),
    "causal none": ("causal_attention", [(CAUSAL_W, CAUSAL_W.replace(" / d_k**0.5", ""))],
                    {"causal_attention_weights": "none"}),
    "causal times": ("causal_attention", [(CAUSAL_W, CAUSAL_W.replace("/ d_k", "* d_k"))],
                     {"causal_attention_weights": "times"}),
    "causal columns": ("causal_attention", [(CAUSAL_W, CAUSAL_W.replace("dim=-1", "dim=-2"))],
                       {"causal_attention_weights": "columns"}),
    # CausalAttention (and so the wrapper's heads)
    "module zero": _causal("zero", [(CA_FILL, CA_FILL.replace("-torch.inf", "0.0"))]),
    "module d_k": _causal("d_k", [(CA_SCALE, CA_SCALE.replace(" ** 0.5", ""))]),
    "module none": _causal("none", [(CA_SCALE, CA_SCALE.replace(" / keys.shape[-1] ** 0.5", ""))]),
    "module d_in": _causal("sqrt d_in", [(CA_SCALE, CA_SCALE.replace("keys.shape", "x.shape"))]),
    **{
        f"module mask {name}": _causal(name, [(CA_BUFFER, CA_BUFFER.replace(
            "causal_mask(context_length)", mask))])
        for name, mask in (
            ("with diagonal", "torch.triu(torch.ones(context_length, context_length), 0)"),
            ("past", "torch.tril(torch.ones(context_length, context_length), -1)"),
            ("past and diagonal", "torch.tril(torch.ones(context_length, context_length), 0)"),
        )
    },
    "module no mask": _causal("no mask", [(CA_FILL, CA_FILL.replace(
        "scores.masked_fill(future, -torch.inf)", "scores"))]),
    "module not cut": _causal("not cut", [("self.mask.bool()[:num_tokens, :num_tokens]", "self.mask.bool()")]),
    "module kv": _causal("kv", [(CA_KV, CA_KV.replace("self.W_key(x)", "KEY").replace(
        "self.W_value(x)", "self.W_key(x)").replace("KEY", "self.W_value(x)"))]),
    "module qk": _causal("qk", [(CA_SCORES, CA_SCORES.replace("queries @ keys", "keys @ queries"))]),
    "module columns": _causal("columns", [(CA_SCALE, CA_SCALE.replace("dim=-1", "dim=-2"))]),
    "module weights": _causal("weights", [(CA_RETURN, "        return weights  # (b, n, n)")]),
    "module dropout": ("causal_attention",
                       [("        weights = self.dropout(weights)\n" + CA_RETURN,
                         "        return self.dropout(weights @ values)  # (b, n, d_out)")],
                       {"CausalAttention": "dropout context", HEADS: "heads: dropout context"}),
    # multihead_attention
    "concat batch": ("multihead_attention",
                     [("for head in self.heads], dim=-1)", "for head in self.heads], dim=0)")],
                     {HEADS: "concat batch"}),
    "concat tokens": ("multihead_attention",
                      [("for head in self.heads], dim=-1)", "for head in self.heads], dim=1)")],
                      {HEADS: "concat tokens"}),
    "mha no out_proj": ("multihead_attention", [("        return self.out_proj(context)\n",
                                                 "        return context\n")],
                        {"MultiHeadAttention": "no out_proj"}),
    "mha split view": ("multihead_attention",
                       [("t = t.view(b, num_tokens, self.num_heads, self.head_dim)",
                         "t = t.view(b, self.num_heads, num_tokens, self.head_dim)"),
                        ("            return t.transpose(1, 2)", "            return t")],
                       {"MultiHeadAttention": "split view"}),
    "mha merge view": ("multihead_attention", [(MHA_MERGE, "        context = weights @ values")],
                       {"MultiHeadAttention": "merge view"}),
    "mha d_out": ("multihead_attention", [(MHA_SCALE, MHA_SCALE.replace("self.head_dim", "self.d_out"))],
                  {"MultiHeadAttention": "sqrt d_out"}),
    "mha head_dim": ("multihead_attention", [(MHA_SCALE, MHA_SCALE.replace("**0.5", ""))],
                     {"MultiHeadAttention": "head_dim"}),
    "mha none": ("multihead_attention", [(MHA_SCALE, MHA_SCALE.replace(" / self.head_dim**0.5", ""))],
                 {"MultiHeadAttention": "none"}),
    "mha zero": ("multihead_attention", [(MHA_FILL, MHA_FILL.replace("-torch.inf", "0.0"))],
                 {"MultiHeadAttention": "zero"}),
    **{
        f"mha mask {name}": ("multihead_attention", [(MHA_MASK, mask)], {"MultiHeadAttention": name})
        for name, mask in (
            ("with diagonal", MHA_MASK.replace(", 1)", ", 0)")),
            ("past", MHA_MASK.replace("triu", "tril").replace(", 1)", ", -1)")),
            ("past and diagonal", MHA_MASK.replace("triu", "tril").replace(", 1)", ", 0)")),
        )
    },
    "mha no mask": ("multihead_attention",
                    [(MHA_FILL, MHA_FILL.replace("scores.masked_fill(future, -torch.inf)", "scores"))],
                    {"MultiHeadAttention": "no mask"}),
    "mha not cut": ("multihead_attention",
                    [(MHA_CUT, MHA_CUT.replace("self.mask.bool()[:num_tokens, :num_tokens]", "self.mask.bool()"))],
                    {"MultiHeadAttention": "not cut"}),
    "mha dropout context": ("multihead_attention",
                            [("        weights = self.dropout(weights)\n" + MHA_MERGE, MHA_MERGE),
                             ("        return self.out_proj(context)\n",
                              "        return self.out_proj(self.dropout(context))\n")],
                            {"MultiHeadAttention": "dropout context"}),
    "mha dropout output": ("multihead_attention",
                           [("        weights = self.dropout(weights)\n" + MHA_MERGE, MHA_MERGE),
                            ("        return self.out_proj(context)\n",
                             "        return self.dropout(self.out_proj(context))\n")],
                           {"MultiHeadAttention": "dropout output"}),
    # what cuts the graph or changes an input (autograder/mistakes/graph.py)
    "stable in place": ("simple_attention",
                        [(SHIFT, "    x -= x.amax(dim=dim, keepdim=True)\n    shifted = x")],
                        {"softmax_stable": "in place"}),
    "naive python floats": ("simple_attention",
                            [(NAIVE, "    import math\n\n    rows = [[math.exp(float(v)) for v in row] for row in x.reshape(-1, x.shape[-1])]\n"
                                     "    e = torch.tensor(rows, dtype=x.dtype).reshape(x.shape)\n    return e / e.sum(dim=-1, keepdim=True)")],
                            {"softmax_naive": "python numbers"}),
    "context no_grad": ("simple_attention",
                        [("    return attn_weights @ inputs  # (d,)",
                          "    with torch.no_grad():\n        return attn_weights @ inputs")],
                        {"context_vector": "no_grad"}),
    "v1 numpy": ("trainable_attention",
                 [("        return self_attention(x, self.W_query, self.W_key, self.W_value)\n",
                   "        import numpy as np\n\n"
                   "        xs = x.detach().numpy()\n"
                   "        q, k, v = (xs @ w.detach().numpy() for w in (self.W_query, self.W_key, self.W_value))\n"
                   "        s = q @ k.T / np.sqrt(k.shape[-1])\n"
                   "        e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                   "        return torch.from_numpy(e / e.sum(axis=-1, keepdims=True) @ v)\n")],
                 {"SelfAttention_v1": "numpy round trip"}),
    "mha detached": ("multihead_attention",
                     [("        return self.out_proj(context)\n",
                       "        return self.out_proj(context).detach()\n")],
                     {"MultiHeadAttention": "detached"}),
}  # fmt: skip

# make check trains no wrapper or MultiHeadAttention with dropout on the values' side: the
# property checks that catch dropout in the wrong place say so in their own words
NOT_IN_CHECK = {
    ("module dropout", "CausalAttention"),
    ("module dropout", HEADS),
    ("mha dropout context", "MultiHeadAttention"),
    ("mha dropout output", "MultiHeadAttention"),
}


def sentences(exercise: str, name: str) -> list[str]:
    """What naming that mistake says: its sentence, and the one for the error it raises."""
    m = next(m for m in [*mistakes.mistakes_of(exercise), *graph.MISTAKES] if m.name == name)
    return [m.says, *([m.error_says] if m.error_says else [])]


def sources(edit: str) -> dict[str, str]:
    module, replacements, _ = EDITS[edit]
    out = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
    for old, new in replacements:
        assert out[module].count(old) == 1, f"{edit}: {old!r} is not once in {module}"
        out[module] = out[module].replace(old, new)
    return out


def test_every_catalogued_mistake_is_submitted() -> None:
    """Is every mistake of the catalogue made by one of the submissions below?"""
    submitted = {(ex, name) for _, _, named in EDITS.values() for ex, name in named.items()}
    catalogued = {(ex, m.name) for ex, listed in mistakes.catalogue().items() for m in listed}
    by_behaviour = {m.name for m in graph.MISTAKES}  # any torch exercise can make these
    assert catalogued - submitted == set()
    assert {(ex, n) for ex, n in submitted if n not in by_behaviour} - catalogued == set()
    assert by_behaviour - {n for _, n in submitted} == set()


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """make check EX=<exercise> on each submission, for each exercise it must name a mistake in."""
    tmp = tmp_path_factory.mktemp("submitted")
    work = {}
    for i, edit in enumerate(EDITS):
        ws = tmp / f"s{i:03d}"
        (ws / "exercises").mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "__init__.py", ws / "exercises" / "__init__.py")
        for module, text in sources(edit).items():
            (ws / "exercises" / f"{module}.py").write_text(text)
        named = [ex for ex in EDITS[edit][2] if (edit, ex) not in NOT_IN_CHECK]
        work[edit] = (str(ws), named)
    return check_each(work, timeout=900)


@pytest.fixture(scope="module")
def graded() -> Iterator[dict[str, Graded]]:
    """Every submission graded by the hidden suites, in one zygote."""
    out = {}
    with Grader(run_seed=RUN_SEED, timeout=3.0) as grader:
        for edit in EDITS:
            sub = Submission(student=edit, origin=ROOT, sources=sources(edit), digest=edit)
            out[edit] = grader.grade(sub)
    yield out


@pytest.mark.parametrize("edit", list(EDITS))
def test_make_check_names_it(edit: str, checked: dict[str, str]) -> None:
    """Does make check, on the exercise the mistake is in, end its message with that mistake?"""
    for exercise, name in EDITS[edit][2].items():
        if (edit, exercise) in NOT_IN_CHECK:
            continue
        detail = checked[f"{edit}:{exercise}"].split("Progress:")[1]
        said = [f"Looks like: {s}" for s in sentences(exercise, name)]
        assert any(s in detail for s in said), f"{exercise}:\n{detail}"


@pytest.mark.parametrize("edit", list(EDITS))
def test_feedback_names_it(edit: str, graded: dict[str, Graded]) -> None:
    """Does a failed hidden check of each exercise the mistake is in name it in the feedback?"""
    result = graded[edit]
    for exercise, name in EDITS[edit][2].items():
        said = [f"Looks like: {s}" for s in sentences(exercise, name)]
        messages = [
            c.message for c in result.checks if c.exercise == exercise and c.points < c.max_points
        ]
        assert any(s in m for s in said for m in messages), f"{exercise}: {said} not in {messages}"
