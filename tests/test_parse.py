"""learner/parse.py: the one bounded way the kit parses a student's source."""

from __future__ import annotations

import ast
import sys

import pytest

from learner import parse
from learner.offlimits import static_violations


def nested(n: int, op: str = "-") -> str:
    return f"x = {op * n}1\n"


def calls(n: int) -> str:
    return "x = " + "f(" * n + "1" + ")" * n + "\n"


@pytest.mark.parametrize(
    "source",
    [
        nested(100_000),
        nested(3000),
        nested(900),
        nested(300, "~"),
        "x = a" + ".b" * 300 + "\n",
        "x = " + " + ".join(["a"] * 300) + "\n",
        calls(3000),
    ],
    ids=[
        "minus-100000",
        "minus-3000",
        "minus-900",
        "invert-300",
        "attrs-300",
        "sum-300",
        "calls-3000",
    ],
)
def test_deep_source_is_refused_with_one_line(source: str) -> None:
    """Is a source the parser chokes on, or whose tree is deeper than the bound, an Unparseable
    (a SyntaxError) with a one-line reason, instead of MemoryError or RecursionError?"""
    with pytest.raises(parse.Unparseable) as caught:
        parse.parse(source)
    assert isinstance(caught.value, SyntaxError)
    reason = parse.problem(source)
    assert reason is not None and "nested too deeply" in reason and "\n" not in reason


def test_tree_within_the_bound_is_returned() -> None:
    """Is a tree just within the bound parsed, and does a recursive visitor walk it?"""
    source = nested(parse.MAX_TREE_DEPTH - 10)
    tree = parse.parse(source)
    assert parse.depth(tree) <= parse.MAX_TREE_DEPTH
    ast.NodeVisitor().visit(tree)
    assert parse.problem(source) is None


def test_bound_holds_below_the_recursion_limit() -> None:
    """Can every tree the bound lets through be visited recursively, with room to spare?"""
    assert parse.MAX_TREE_DEPTH * 2 < sys.getrecursionlimit() // 2


def test_depth_counts_levels() -> None:
    """Does depth count nodes from the module down (Module > Expr > UnaryOp ... > Constant)?"""
    assert parse.depth(ast.parse("1")) == 3  # Module, Expr, Constant
    assert parse.depth(ast.parse("-1")) == 4  # Module, Expr, UnaryOp, its operand
    assert parse.depth(ast.parse("--1")) == 5


def test_ordinary_syntax_error_is_left_to_python() -> None:
    """Is an ordinary syntax error raised as Python's own, and not a refusal?"""
    with pytest.raises(SyntaxError) as caught:
        parse.parse("def f(:\n")
    assert not isinstance(caught.value, parse.Unparseable)
    assert parse.problem("def f(:\n") is None


def test_nul_and_size_are_refused() -> None:
    """Are a NUL character (a ValueError in some Pythons' parsers) and an oversized source
    refused with their reasons?"""
    assert parse.problem("x = 1\ny = '\0'\n") == "it holds a NUL character"
    with pytest.raises(parse.Unparseable) as caught:
        parse.parse("a\n\0")
    assert caught.value.lineno == 2
    assert parse.problem("x = '\ud800'\n") == (
        "it holds text that is not valid Unicode (a lone surrogate)"
    )
    big = "#" * (parse.MAX_SOURCE_CHARS + 1)
    assert parse.problem(big) == f"it is over {parse.MAX_SOURCE_CHARS // 1024} K characters"


def test_reference_sources_parse() -> None:
    """Do the reference solutions parse well within the bound?"""
    from autograder import ROOT

    for path in (ROOT / "solutions").glob("*.py"):
        assert parse.depth(parse.parse(path.read_text())) < parse.MAX_TREE_DEPTH // 4, path


def test_scans_handle_a_refused_source_as_a_syntax_error() -> None:
    """Do callers that catch SyntaxError also catch a refusal (Unparseable is one)?"""
    try:
        parse.parse(nested(100_000))
    except SyntaxError as e:
        assert "nested too deeply" in str(e)
    # the off-limits scan of an ordinary module still works
    assert static_violations("def f(x):\n    return x\n", ["f"], ["softmax"]) == []


def test_depth_is_that_of_ast_iter_child_nodes() -> None:
    """On the kit's own modules, is depth() the depth ast.iter_child_nodes gives, recursively?"""
    from autograder import ROOT

    def levels(node: ast.AST) -> int:
        return 1 + max(map(levels, ast.iter_child_nodes(node)), default=0)

    paths = sorted((ROOT / "solutions").glob("*.py")) + sorted((ROOT / "learner").glob("*.py"))
    assert len(paths) > 10
    for path in paths:
        tree = ast.parse(path.read_text())
        assert parse.depth(tree) == levels(tree), path
