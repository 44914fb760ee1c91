"""The kit's one bounded way to parse a student's source.

`ast.parse` on hostile text can fail in ways a caller does not expect: 100,000 unary minus signs
exhaust the parser's stack (MemoryError), a few thousand nested calls hit RecursionError, a NUL
byte is a ValueError on some Python versions, and a tree that does parse can still be deep enough
to make any recursive `ast.NodeVisitor` (the off-limits and evasion scans) raise RecursionError.

`parse` bounds all of it: the source's size, the parser's own failures, and the tree's depth
(measured without recursion). Every refusal is an `Unparseable`, a SyntaxError with a one-line
reason, so code that already handles a syntax error handles it too. `problem` says in one line
why a source is refused, or None when it parses or has an ordinary syntax error (which the
student's own Python reports, as it would on their machine).
"""

from __future__ import annotations

import ast

MAX_SOURCE_CHARS = 256 * 1024  # one module, as collection reads it
MAX_TREE_DEPTH = 200  # nodes from the module to the deepest leaf; honest code stays under 40


class Unparseable(SyntaxError):
    """A source the grader will not parse; `str()` is the one-line reason."""

    def __init__(self, reason: str, lineno: int | None = None) -> None:
        super().__init__(reason)
        self.msg, self.lineno = reason, lineno

    def __str__(self) -> str:
        return self.msg


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """The tree of `source`; SyntaxError for a syntax error, `Unparseable` (a SyntaxError too)
    for a source too large, too deeply nested, or that the parser cannot build."""
    if len(source) > MAX_SOURCE_CHARS:
        raise Unparseable(f"it is over {MAX_SOURCE_CHARS // 1024} K characters")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise Unparseable("it holds text that is not valid Unicode (a lone surrogate)") from None
    if "\0" in source:
        raise Unparseable("it holds a NUL character", source[: source.index("\0")].count("\n") + 1)
    try:
        tree = ast.parse(source, filename)
    except Unparseable:
        raise
    except SyntaxError as e:
        if "too many nested" in str(e.msg):  # the parser's own nesting limit (3.12+)
            raise Unparseable(_NESTED, e.lineno) from None
        raise
    except (MemoryError, RecursionError):
        raise Unparseable(_NESTED) from None
    except ValueError as e:  # e.g. surrogates the parser cannot read
        raise Unparseable(f"the parser cannot read it ({e})") from None
    deepest = depth(tree)
    if deepest > MAX_TREE_DEPTH:
        raise Unparseable(f"{_NESTED} ({deepest} levels; at most {MAX_TREE_DEPTH})")
    return tree


_NESTED = "an expression or statement is nested too deeply to be read"


def depth(tree: ast.AST) -> int:
    """How many nodes deep `tree` is, counted with an explicit stack (no recursion). The
    children are those of ast.iter_child_nodes, read inline: a third of its time."""
    deepest = 0
    stack = [(tree, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, level = pop()
        deepest = max(deepest, level)
        level += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        push((item, level))
            elif isinstance(value, ast.AST):
                push((value, level))
    return deepest


def problem(source: str) -> str | None:
    """Why the grader refuses `source`, in one line; None when it parses or has an ordinary
    syntax error (left for Python itself to report where the student's code runs)."""
    try:
        parse(source)
    except Unparseable as e:
        return e.msg
    except SyntaxError:
        return None
    return None
