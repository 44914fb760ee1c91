"""What the notebooks say besides the code: introductions, explanations and worked examples.

The code students write comes from solutions/, points and titles from exercises.toml, and every
number from learner/public/fixtures/ (DATA names the fixture values each notebook loads). The
visible checks are make check's own (learner/notebook_checks.py).
"""

from __future__ import annotations

# module -> [(variable, fixture, key)]: the examples' values a notebook's data cell defines
DATA: dict[str, list[tuple[str, str, str]]] = {
    "simple_attention": [
        ("journey", "doc002_003_journey", "inputs"),
        ("journey_scores_2", "doc002_003_journey", "attn_scores_2"),
        ("journey_weights_2_tmp", "doc002_003_journey", "attn_weights_2_tmp"),
        ("journey_weights_2", "doc002_003_journey", "attn_weights_2"),
        ("journey_context_2", "doc002_003_journey", "context_vec_2"),
        ("cat_ran", "doc004_cat_ran", "inputs"),
        ("cat_scores", "doc004_cat_ran", "attn_scores"),
        ("cat_weights", "doc004_cat_ran", "attn_weights"),
        ("cat_context", "doc004_cat_ran", "context_vec"),
    ],
    "trainable_attention": [
        ("wars", "doc001_wars_seed123", "inputs"),
        ("wars_query_2", "doc001_wars_seed123", "query_2"),
        ("wars_keys", "doc001_wars_seed123", "keys"),
        ("wars_values", "doc001_wars_seed123", "values"),
        ("wars_scores_2", "doc001_wars_seed123", "attn_scores_2"),
        ("wars_weights_2", "doc001_wars_seed123", "attn_weights_2"),
        ("wars_context_2", "doc001_wars_seed123", "context_vec_2"),
        ("wars_sa_v1", "doc001_wars_seed123", "sa_v1_output"),
        ("journey", "doc002_003_journey", "inputs"),
        ("book_sa_v2_seed_789", "chapter_seeded", "SelfAttention_v2"),
    ],
    "numpy_attention": [
        ("X", "doc000_numpy_shapes", "X"),
        ("d_k", "doc000_numpy_shapes", "d_k"),
        ("weights_shape", "doc000_numpy_shapes", "attention_weights_shape"),
        ("output_shape", "doc000_numpy_shapes", "output_shape"),
    ],
    "causal_attention": [
        ("journey", "doc002_003_journey", "inputs"),
        ("book_causal_seed_123", "chapter_seeded", "CausalAttention"),
    ],
    "multihead_attention": [
        ("journey", "doc002_003_journey", "inputs"),
        ("book_wrapper_seed_123", "chapter_seeded", "MultiHeadAttentionWrapper"),
        ("book_mha_seed_123", "chapter_seeded", "MultiHeadAttention"),
    ],
}

INTRO: dict[str, str] = {
    "simple_attention": """\
Attention lets every token of a sentence look at every other token and build a new vector,
its *context vector*, from the ones that matter most to it. Here there is nothing to train yet:
the tokens of "Your journey starts with one step" (and of "The cat ran") are fixed 3-d
embeddings, one row each of `inputs`.

The recipe has three steps: score every token against a query token with a dot product, turn the
scores into weights that are positive and sum to 1, and add up the token vectors weighted by those
weights. You will first do it for one query (the second token, "journey"), then for all of them
at once with matrix products.""",
    "trainable_attention": """\
Real attention learns *what to look for*. Three weight matrices W_query, W_key and W_value
project every token into a query, a key and a value. A token's query is scored against every key,
the scores are divided by √d_k (the keys' width) so that the softmax does not saturate, and the
context vector is the weighted sum of the values.

The worked example is "wars not make one great", five 3-d tokens projected to 2 dimensions,
with weights drawn by `torch.rand` after `torch.manual_seed(123)`. At the end you wrap everything
in two `nn.Module` classes, first with `nn.Parameter` matrices and then with `nn.Linear` layers.""",
    "numpy_attention": """\
The same scaled dot-product attention, in plain numpy: no torch, no scipy. Seeing it without a
deep-learning library makes the shapes plain: X is [n, d], the projections make Q and K [n, d_k]
and V [n, d_v], the weights are [n, n] and the output is [n, d_v].

The worked example feeds three 5-d tokens through random projections with d_k = 4; its
weights were drawn without a seed, so what we can check against it are the shapes and that each
row of weights sums to 1.""",
    "causal_attention": """\
A language model predicts the next token, so while it reads token t it must not peek at tokens
t+1, t+2, ... *Causal* attention hides the future: every weight above the diagonal of the [n, n]
weight matrix becomes 0, and each row still sums to 1.

There are two ways to get there: zero the future weights after the softmax and renormalise each
row, or set the future *scores* to -inf before the softmax (exp(-inf) = 0), which needs one
softmax instead of two. Then you build the `CausalAttention` module of the book, with dropout on
the attention weights and the mask kept as a buffer.""",
    "multihead_attention": """\
One attention head learns one way of relating tokens; several heads side by side can learn
several. The first version simply runs `num_heads` CausalAttention modules and concatenates
their outputs. The second does the same work with one set of projections: it splits the d_out
features into heads of `head_dim = d_out // num_heads`, attends in every head at once with a
batched matrix product, puts the heads back together and mixes them with an output projection.

`CausalAttention` comes from your causal_attention notebook, which must be in the same folder:
finish that one first.""",
}

# The hidden tests' call, and how to work through a notebook
HOW_TO = """\
**How to work.** Run the cells from the top. Under each exercise there is an answer cell: write
your code where it says `YOUR CODE HERE` and delete the `raise NotImplementedError()` line. The
cell after it checks your answer against the numbers of the book and the worked examples; when it
runs without an error, those checks pass. The grader runs more checks than you see here, on fresh
inputs, and gives partial credit check by check. When your notebook is graded, the grader keeps
the functions, classes, imports and `name = value` lines of your answer cells and of any cell you
add, and leaves out everything else: a cell where you try a call or print something never breaks
your grade, but a helper must be a function (or a class) to count."""

# exercise id -> (explanation, worked example or ""); the test cell under each answer runs
# make check's tests of that exercise on the notebook's answers (learner/notebook_checks.py)
EXERCISES: dict[str, tuple[str, str]] = {
    "attention_scores": (
        """\
The score of token i for a query is the dot product x_i · query: large when the two vectors
point the same way. For the query "journey" (`inputs[1]`) there is one score per token, so the
result has shape [n].""",
        """\
# One score by hand: "Your" (token 0) against the query "journey" (token 1)
query = journey[1]
print(journey[0] @ query)  # the book prints 0.9544""",
    ),
    "normalize_by_sum": (
        """\
Weights should be positive and sum to 1. The simplest way: divide the scores by their sum.
For 2-D input, every row is normalised on its own.""",
        "",
    ),
    "softmax_naive": (
        """\
Softmax, exp(x) / Σ exp(x), is the usual normalisation: every weight is positive even when a
score is negative, and larger scores get a larger share. Write it from `torch.exp` and a sum
(the library softmax is off-limits in this exercise). It must work on 1-D and on 2-D input
(one softmax per row).""",
        """\
# exp makes every score positive; dividing by the sum makes them add up to 1
e = torch.exp(torch.tensor(journey_scores_2))
print(e / e.sum())  # the book prints 0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581""",
    ),
    "softmax_stable": (
        """\
exp(1000) is infinite in float32, so the naive softmax of [1000, 1001] is nan. Softmax does not
change when the same constant is subtracted from every entry, so subtract the largest entry
first: the largest exponent is then exp(0) = 1 and nothing overflows. It takes a `dim` argument
(default -1) saying along which dimension to normalise. The library softmax is off-limits.""",
        """\
# The overflow the naive version runs into
print(torch.exp(torch.tensor([1000.0, 1001.0])))  # tensor([inf, inf])""",
    ),
    "context_vector": (
        """\
The context vector of the query is Σ_i α_i x_i: every token vector, weighted by its attention
weight, added up. It has one entry per embedding dimension: shape [d].""",
        "",
    ),
    "all_attention_scores": (
        """\
Now every token is a query. Row i of the [n, n] score matrix holds x_i · x_j for every j; a loop
over pairs works, and so does one matrix product.""",
        "",
    ),
    "all_attention_weights": (
        """\
Apply softmax to every row of the score matrix: row i then holds the weights token i gives to
every token, and each row sums to 1. (Here the library softmax is allowed.)""",
        "",
    ),
    "all_context_vectors": (
        """\
One context vector per token, all at once: the [n, n] weights times the [n, d] inputs.""",
        "",
    ),
    "qkv_projections": (
        """\
Multiply the inputs [n, d_in] by each weight matrix [d_in, d_out]: queries, keys and values,
each [n, d_out]. The example draws the three matrices with `torch.rand` right after
`torch.manual_seed(123)`, in the order query, key, value.""",
        """\
torch.manual_seed(123)
W_query, W_key, W_value = (torch.rand(3, 2) for _ in range(3))
print(wars[1] @ W_query)  # the query of "not": the example prints 0.4306, 1.4551""",
    ),
    "scaled_attention_weights": (
        """\
Scores grow with the width of the vectors, and a softmax of large scores puts almost all the
weight on one token. Dividing the scores by √d_k keeps them in a range where the softmax still
spreads the weight.""",
        """\
# The scores of "not" against every key, and d_k = 2
print(torch.tensor(wars_scores_2) / 2**0.5)""",
    ),
    "self_attention": (
        """\
Put the steps together: project, score every query against every key, scale and softmax, and
weight the values. The result holds one context vector per token: [n, d_out].""",
        "",
    ),
    "SelfAttention_v1": (
        """\
The same computation as an `nn.Module`: the three matrices become `nn.Parameter`s, created with
`torch.rand(d_in, d_out)` in the order W_query, W_key, W_value, so that after
`torch.manual_seed(123)` they hold the example's numbers.""",
        "",
    ),
    "SelfAttention_v2": (
        """\
`nn.Linear(d_in, d_out, bias=qkv_bias)` does the matrix product for you (it stores its weight
as [d_out, d_in] and computes x Wᵀ) and initialises it better than `torch.rand`. The book uses
`torch.manual_seed(789)` for this version.""",
        """\
# nn.Linear's weight is the transpose of a [d_in, d_out] matrix
print(nn.Linear(3, 2, bias=False).weight.shape)  # torch.Size([2, 3])""",
    ),
    "v1_state_from_v2": (
        """\
The book's exercise 3.1: a `SelfAttention_v2` and a `SelfAttention_v1` compute the same thing
once they hold the same weights. Write the `SelfAttention_v1` state_dict that makes it so, from
a `SelfAttention_v2`'s (`qkv_bias=False`): the keys are v1's parameter names, and each value is
the layer's weight, which `nn.Linear` keeps as [d_out, d_in].""",
        """\
# the two state_dicts side by side: compare the names and the shapes
print({k: v.shape for k, v in nn.Linear(3, 2, bias=False).state_dict().items()})""",
    ),
    "softmax_rows": (
        """\
A row-wise softmax for a 2-D numpy array, which stays finite for large scores (subtract each
row's maximum first). No scipy or torch here.""",
        "",
    ),
    "self_attention_numpy": (
        """\
Return both the output [n, d_v] and the weights [n, n], with the weights the row softmax of
Q Kᵀ / √d_k.""",
        """\
# The example's input: three tokens of width 5, projected to d_k = 4
print(X.shape, d_k)""",
    ),
    "causal_mask": (
        """\
The mask says which positions are in the future: a bool [n, n] matrix that is True strictly
above the diagonal (position j > i) and False on and below it.""",
        "",
    ),
    "mask_and_renormalize": (
        """\
Zero the weights of the future, then divide every row by its new sum so that it sums to 1
again. It works on [..., n, n]: a batch of weight matrices too.""",
        "",
    ),
    "causal_attention_weights": (
        """\
The one-softmax way: set future scores to -inf, then softmax(scores / √d_k) along each row.
Row 0 then puts all its weight on token 0.""",
        "",
    ),
    "CausalAttention": (
        """\
The book's module: `nn.Linear` projections, `nn.Dropout` on the attention weights, and the mask
registered as a buffer named `mask` so that it moves with the module. `forward` takes a batch
[b, n, d_in] with n <= context_length and uses the top-left [n, n] corner of the mask.""",
        """\
# A batch of two copies of the journey sentence: [2, 6, 3]
batch = torch.stack((journey, journey))
print(batch.shape)""",
    ),
    "MultiHeadAttentionWrapper": (
        """\
`num_heads` CausalAttention heads in an `nn.ModuleList` named `heads`; `forward` concatenates
their outputs along the last dimension, so the output is [b, n, d_out · num_heads].""",
        "",
    ),
    "MultiHeadAttention": (
        """\
One set of projections [d_in -> d_out], viewed as `num_heads` heads of `head_dim` features
(`view` to [b, n, heads, head_dim], then `transpose` to [b, heads, n, head_dim]); attention in
every head at once; heads back together to [b, n, d_out]; then `out_proj`. When d_out is not
divisible by num_heads, raise `ValueError` (or, as the book does, `assert d_out % num_heads == 0`:
either is fine).""",
        "",
    ),
    "two_dimensional_wrapper": (
        """\
The book's exercise 3.2: keep `num_heads=2`, but make the wrapper's context vectors
2-dimensional instead of 4. The wrapper puts its heads' outputs side by side, so its width is
`d_out * num_heads`: only one argument needs to change.""",
        "",
    ),
    "gpt2_small_attention": (
        """\
The book's exercise 3.3: the smallest GPT-2 has 12 attention heads, 768-dimensional embeddings
in and out, and a context of 1024 tokens. Build your `MultiHeadAttention` that size, then count
its parameters with `sum(p.numel() for p in model.parameters())` and check the number against
the layers' shapes (the mask is a buffer, not a parameter).""",
        "",
    ),
}


def exercise_text(exercise_id: str, todo: str) -> tuple[str, str]:
    """An exercise's (explanation, example code): its entry in EXERCISES, else a default made of
    its manifest todo (the task the stub states) and no example, so a new exercise has a notebook
    section before anyone writes one for it."""
    return EXERCISES.get(exercise_id, (f"Your task: {todo}. Write it in the cell below.", ""))
