"""Worked examples in an exercise's docstring: the one place its documented case is declared.

A function's docstring may show calls in the doctest form the book's listings print:

    >>> attention_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    tensor([0.6931, 0.0000])

The stub carries the docstring, so students read the example; `make check` runs it as a public
test (the student's function on those arguments, against the printed result at its printed
precision) and the hidden suites as a check (the same arguments and a fresh input of the same
shape, against the reference). Arguments and results are literals only: numbers, lists,
`torch.tensor(...)` / `tensor(...)`, `np.array(...)` / `array(...)`, `dtype=torch.float64` and
dicts with string keys (a state_dict); nothing in a docstring is executed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

_PROMPT = re.compile(r"^\s*>>> (.*)$")
_MORE = re.compile(r"^\s*\.\.\. (.*)$")  # a call continued on the next line
_DECIMALS = re.compile(r"\d\.(\d+)")


class ExampleError(ValueError):
    """A docstring example that is not a call of its exercise on literals."""


@dataclass(frozen=True)
class Example:
    exercise: str
    call: str  # as written after >>>
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    atol: float = 1e-4  # one unit in the last printed decimal


def of_source(source: str, name: str) -> list[Example]:
    """The examples in the docstring of the top-level function `name` of a module's source
    ([] when it has none, or no such function)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return parse(ast.get_docstring(node) or "", name)
    return []


def parse(docstring: str, name: str) -> list[Example]:
    """Each `>>> name(...)` call (continued on `... ` lines) with the result printed under it
    (up to a blank line)."""
    lines = docstring.splitlines()
    out = []
    for i, line in enumerate(lines):
        match = _PROMPT.match(line)
        if not match:
            continue
        call, printed = [match.group(1).strip()], []
        for after in lines[i + 1 :]:
            more = _MORE.match(after)
            if more and not printed:
                call.append(more.group(1).strip())
                continue
            if not after.strip() or _PROMPT.match(after):
                break
            printed.append(after.strip())
        out.append(_example(name, " ".join(call), " ".join(printed)))
    return out


def _example(name: str, call: str, printed: str) -> Example:
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError as e:
        raise ExampleError(f"{name}: the example `{call}` does not parse: {e.msg}") from None
    if not (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ):
        raise ExampleError(f"{name}: an example must call {name}(...), not `{call}`")
    if not printed:
        raise ExampleError(f"{name}: the example `{call}` prints no result under it")
    try:
        args = tuple(_literal(a) for a in node.args)
        kwargs = {str(k.arg): _literal(k.value) for k in node.keywords}
        expected = _literal(ast.parse(printed, mode="eval").body)
    except (SyntaxError, ValueError, TypeError) as e:
        raise ExampleError(f"{name}: the example `{call}` is not literals only: {e}") from None
    decimals = [len(d) for d in _DECIMALS.findall(printed)]
    atol = 10.0 ** -max(decimals) if decimals else 0.0
    return Example(name, call, args, kwargs, expected, atol)


def _literal(node: ast.expr) -> Any:
    """The value of a literal node (see the module's docstring for what is allowed)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):  # a state_dict: string keys only
        keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
        if not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
            raise ValueError("a dict's keys are distinct strings")
        return {k: _literal(v) for k, v in zip(keys, node.values, strict=True)}
    if isinstance(node, ast.Attribute) and _dotted(node) in _DTYPES:
        return _DTYPES[_dotted(node)]
    if isinstance(node, ast.Call) and _dotted(node.func) in _MAKERS:
        if len(node.args) != 1:
            raise ValueError(f"{_dotted(node.func)} takes one list")
        if {k.arg for k in node.keywords} - {"dtype"}:
            raise ValueError(f"{_dotted(node.func)} takes only dtype=")
        kwargs = {str(k.arg): _literal(k.value) for k in node.keywords}
        data = _literal(node.args[0])
        if _MAKERS[_dotted(node.func)] == "torch":
            return torch.tensor(data, dtype=kwargs.get("dtype"))
        return np.array(data, dtype=kwargs.get("dtype"))
    raise ValueError(f"`{ast.unparse(node)}` is not a literal")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


_MAKERS = {"torch.tensor": "torch", "tensor": "torch", "np.array": "numpy", "array": "numpy"}
_DTYPES: dict[str, Any] = {
    "torch.float32": torch.float32,
    "torch.float64": torch.float64,
    "torch.bool": torch.bool,
    "np.float32": np.float32,
    "np.float64": np.float64,
}
