"""Off-limits calls: library functions an exercise must not use because it asks you to write them.

Two ways to catch them, used together:
- static_violations reads the source (AST) of the exercise's functions and classes, and of the
  helpers they call in the same module, and reports every reference to an off-limits name;
- watch records the off-limits calls actually made while it is active, however they were reached
  (an alias, a helper in another module, a thread, a forked child, a composite such as
  F.cross_entropy), through torch's function mode, the kernels kernelwatch replaces at torch's
  dispatcher and, when scipy is loaded, scipy.special.

Groups (exercises.toml `offlimits`) name what is off-limits; anything else is fine, including
torch.exp, sum, amax, logsumexp, masked_fill, matmul, einsum, nn.Linear and nn.Dropout.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from . import parse

GROUPS: dict[str, str] = {
    "softmax": (
        "a library softmax (torch.softmax, torch.nn.functional.softmax, nn.Softmax, "
        "Tensor.softmax, log_softmax in any form, torch.special.softmax, "
        "scipy.special.softmax or log_softmax)"
    ),
    "fused_attention": (
        "a ready-made attention (torch.nn.functional.scaled_dot_product_attention, "
        "nn.MultiheadAttention, torch.nn.functional.multi_head_attention_forward)"
    ),
    "torch": "torch in any form (this exercise is numpy only)",
}

# Names that reach a group from Python: attributes (torch.softmax, x.softmax, nn.Softmax),
# imported names (from torch import softmax) and torch-function names (Tensor.log_softmax).
_PY_NAMES: dict[str, frozenset[str]] = {
    "softmax": frozenset(
        {
            "softmax",
            "log_softmax",
            "Softmax",
            "LogSoftmax",
            "Softmax2d",
            "softmin",
            "Softmin",
            "gumbel_softmax",
            "special_softmax",
            "special_log_softmax",
            "_softmax",
            "_log_softmax",
            "_safe_softmax",
            "_masked_softmax",
            "_sparse_softmax",
            "_sparse_log_softmax",
        }
    ),
    "fused_attention": frozenset(
        {
            "scaled_dot_product_attention",
            "MultiheadAttention",
            "multi_head_attention_forward",
            "_native_multi_head_attention",
            "_transformer_encoder_layer_fwd",
            "flex_attention",
            "Transformer",
            "TransformerEncoder",
            "TransformerEncoderLayer",
            "TransformerDecoder",
            "TransformerDecoderLayer",
        }
    ),
    "torch": frozenset({"torch"}),  # the module's name; what is imported from it is tainted
}
# Every fused kernel: _scaled_dot_product_flash_attention_for_cpu, ..._math, ..._efficient_...
_PREFIXES: dict[str, tuple[str, ...]] = {
    "softmax": (),
    "fused_attention": ("_scaled_dot_product",),
    "torch": (),
}
_SCIPY = ("softmax", "log_softmax")  # patched in scipy.special while watching the "softmax" group


def _groups(groups: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(groups))
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown off-limits group(s) {unknown}; known: {sorted(GROUPS)}")
    return chosen


def _matches(name: str, groups: tuple[str, ...], table: dict[str, frozenset[str]]) -> bool:
    return any(name in table[g] or name.startswith(_PREFIXES[g]) for g in groups)


# ---- static: read the source ----------------------------------------------------------------


_TORCH_FILE = ", from another exercise file: numpy only"


def _exercise_file(module: str | None, level: int = 0) -> bool:
    """Does an import name another of the student's exercise files (relatively, by its plain
    name, or through the package)? For numpy-only exercises what those hold counts as torch."""
    from . import manifest

    top = (module or "").split(".")[0]
    return level > 0 or top == "exercises" or top in manifest.modules()


def _module_bindings(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, looking inside top-level if/try/with blocks but not into defs."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        out.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, []) or [])
    return out


def _local_names(node: ast.AST) -> set[str]:
    """Names bound inside a function or class: parameters, assignments, nested defs, imports."""
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif (
            isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and sub is not node
        ):
            bound.add(sub.name)
    return bound


class _Scan(ast.NodeVisitor):
    """Off-limits references inside one top-level def; collects the module-level helpers it uses."""

    def __init__(
        self,
        groups: tuple[str, ...],
        defs: dict[str, ast.AST],
        tainted: dict[str, str],
        star: list[str],
        top: ast.AST,
    ) -> None:
        self.groups, self.defs, self.tainted, self.star = groups, defs, tainted, star
        self.local = _local_names(top)
        self.methods = {
            n.name
            for n in getattr(top, "body", [])
            if isinstance(top, ast.ClassDef)
            and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.hits: list[tuple[int, str]] = []
        self.helpers: set[str] = set()

    def _bad(self, name: str) -> bool:
        return _matches(name, self.groups, _PY_NAMES)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        own_method = (
            isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in self.methods
        )
        if self._bad(node.attr) and not own_method and isinstance(node.ctx, ast.Load):
            self.hits.append((node.lineno, ast.unparse(node)))
            return  # report torch.nn.functional.softmax once, not its parts
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load) or node.id in self.local:
            return
        if node.id in self.tainted:
            self.hits.append((node.lineno, f"{node.id} ({self.tainted[node.id]})"))
        elif node.id in self.defs:
            self.helpers.add(node.id)
        elif self._bad(node.id):
            origin = f" (from {', '.join(self.star)} import *)" if self.star else ""
            self.hits.append((node.lineno, node.id + origin))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:  # import torch as t, inside the function
            if "torch" in self.groups and alias.name.split(".")[0] == "torch":
                self.hits.append((node.lineno, f"import {alias.name}"))
            elif "torch" in self.groups and _exercise_file(alias.name):
                self.hits.append((node.lineno, f"import {alias.name}{_TORCH_FILE}"))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if "torch" in self.groups and (node.module or "").split(".")[0] == "torch":
            self.hits.append((node.lineno, f"from {node.module} import ..."))
            return
        if "torch" in self.groups and _exercise_file(node.module, node.level):
            where = "." * node.level + (node.module or "")
            self.hits.append((node.lineno, f"from {where} import ...{_TORCH_FILE}"))
            return
        for alias in node.names:
            if self._bad(alias.name):
                self.hits.append((node.lineno, f"{node.module or '.'}.{alias.name}"))

    def visit_Call(self, node: ast.Call) -> None:
        # getattr(torch, "softmax"), operator.attrgetter("softmax")
        for arg in node.args:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and self._bad(arg.value)
            ):
                self.hits.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        # vars(torch)["softmax"], torch.__dict__["softmax"]
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and self._bad(key.value):
            self.hits.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)


def static_violations(source: str, names: Iterable[str], groups: Iterable[str]) -> list[str]:
    """Off-limits references in the top-level functions/classes `names` of a module's source.

    Helpers defined in the same module that those use are read too; a module-level def that
    shadows a library name (your own `softmax`) is yours and fine. Returns lines such as
    "line 12: torch.softmax", in line order; [] when clean. A SyntaxError propagates.
    """
    chosen = _groups(groups)
    if not chosen:
        return []
    tree = parse.parse(source)  # bounded: a SyntaxError for a source too deep to walk
    defs: dict[str, ast.AST] = {
        n.name: n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    tainted: dict[str, str] = {}  # module-level name -> the off-limits thing it holds
    star: list[str] = []
    for stmt in _module_bindings(tree):
        if isinstance(stmt, ast.Import) and "torch" in chosen:  # import torch as t
            for alias in stmt.names:
                if alias.name.split(".")[0] == "torch" and alias.asname:
                    tainted[alias.asname] = alias.name
        if isinstance(stmt, ast.ImportFrom) and "torch" in chosen:  # from torch import tensor
            if (stmt.module or "").split(".")[0] == "torch" and stmt.level == 0:
                for alias in stmt.names:
                    if alias.name != "*":
                        tainted[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
        if "torch" in chosen and isinstance(stmt, ast.Import):  # import simple_attention
            for alias in stmt.names:
                if _exercise_file(alias.name):
                    tainted[alias.asname or alias.name.split(".")[0]] = f"{alias.name}{_TORCH_FILE}"
        if "torch" in chosen and isinstance(stmt, ast.ImportFrom):  # from .simple import f
            if _exercise_file(stmt.module, stmt.level):
                where = "." * stmt.level + (stmt.module or "")
                for alias in stmt.names:
                    tainted[alias.asname or alias.name] = f"{where}.{alias.name}{_TORCH_FILE}"
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    star.append(stmt.module or ".")
                elif _matches(alias.name, chosen, _PY_NAMES):
                    tainted[alias.asname or alias.name] = f"{stmt.module or '.'}.{alias.name}"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            probe = _Scan(chosen, {}, tainted, star, ast.Module(body=[], type_ignores=[]))
            probe.visit(stmt.value)
            if probe.hits:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            tainted[sub.id] = probe.hits[0][1]
    for name in list(defs):  # a def named like a library function replaces any import of it
        tainted.pop(name, None)

    hits: set[tuple[int, str]] = set()
    todo = [n for n in dict.fromkeys(names) if n in defs]
    seen = set(todo)
    requested = set(todo)
    while todo:
        name = todo.pop(0)
        scan = _Scan(chosen, defs, tainted, star, defs[name])
        node = defs[name]
        for stmt in getattr(node, "body", []):
            scan.visit(stmt)
        for arg_default in _defaults(node):
            scan.visit(arg_default)
        where = "" if name in requested else f" (in {name})"
        hits.update((line, text + where) for line, text in scan.hits)
        for helper in sorted(scan.helpers - seen):
            seen.add(helper)
            todo.append(helper)
    return [f"line {line}: {text}" for line, text in sorted(hits)]


def _defaults(node: ast.AST) -> list[ast.expr]:
    args = getattr(node, "args", None)
    if not isinstance(args, ast.arguments):
        return []
    return [d for d in [*args.defaults, *args.kw_defaults] if d is not None]


# ---- dynamic: watch the calls ---------------------------------------------------------------


class _Recorder:
    """What was called, each once, in call order."""

    def __init__(self, groups: tuple[str, ...], calls: list[str]) -> None:
        self.groups = groups
        self.calls = calls

    def record(self, what: str) -> None:
        if what not in self.calls:
            self.calls.append(what)


def _describe(func: Any) -> tuple[str, str]:
    """(bare name, readable name) of whatever torch's function mode was handed."""
    packet = getattr(func, "overloadpacket", None)
    if packet is not None or type(func).__name__ == "OpOverloadPacket":
        packet = packet or func
        qualified = getattr(packet, "_qualified_op_name", f"aten::{packet.__name__}")
        namespace, _, name = qualified.partition("::")
        return name, f"torch.ops.{namespace}.{name}"
    name = getattr(func, "__name__", "") or ""
    qualname = getattr(func, "__qualname__", "") or name
    module = getattr(func, "__module__", None) or ""
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return name, f"Tensor.{name}"
    if module.startswith("torch._C._special") or name.startswith("special_"):
        return name, f"torch.special.{name.removeprefix('special_')}"
    if module == "torch._C._nn":
        return name, f"torch.nn.functional.{name}"
    if module.startswith("torch._C") or module in ("", "torch"):
        return name, f"torch.{name}"
    return name, f"{module}.{name}"


_FUNCTION_WATCH: type | None = None


def _function_watch() -> type:
    """torch's function mode class, built on first use so that importing this module stays light."""
    global _FUNCTION_WATCH
    if _FUNCTION_WATCH is None:
        from torch.overrides import TorchFunctionMode

        class FunctionWatch(TorchFunctionMode):
            def __init__(self, rec: _Recorder) -> None:
                super().__init__()
                self.rec = rec

            def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
                name, readable = _describe(func)
                if "torch" in self.rec.groups or _matches(
                    name.split(".")[0], self.rec.groups, _PY_NAMES
                ):
                    self.rec.record(readable)
                return func(*args, **(kwargs or {}))

        _FUNCTION_WATCH = FunctionWatch
    return _FUNCTION_WATCH


def _patch_scipy(rec: _Recorder) -> list[tuple[Any, str, Any]]:
    """Wrap scipy.special.softmax/log_softmax when scipy is already loaded; returns what to undo."""
    if "softmax" not in rec.groups or "scipy" not in sys.modules:
        return []
    try:
        import scipy.special as special
    except ImportError:  # pragma: no cover - a broken scipy install
        return []
    undo = []
    for name in _SCIPY:
        original = getattr(special, name, None)
        if original is None:
            continue

        def wrapper(*args: Any, _name: str = name, _f: Callable = original, **kwargs: Any) -> Any:
            rec.record(f"scipy.special.{_name}")
            return _f(*args, **kwargs)

        undo.append((special, name, original))
        setattr(special, name, wrapper)
    return undo


@contextmanager
def watch(groups: Iterable[str], *, deep: bool = True, by_name: bool = True) -> Iterator[list[str]]:
    """Record the off-limits calls of `groups` made inside the block, each once, in call order.

    Two layers: torch's function mode names the Python-level call (torch.softmax however
    reached, Tensor methods, nn modules, F.multi_head_attention_forward) in this thread; the
    kernels replaced at torch's dispatcher (kernelwatch) count every call of a softmax or
    attention operator, from any thread or forked child, through any composite, under
    inference_mode. by_name=False leaves the function mode out (the grader's worker: every
    torch call through Python's mode costs time) except for the numpy-only group, which only it
    sees; the kernels then name the call. deep is accepted for old callers and changes nothing.

    with watch(["softmax"]) as calls:
        softmax_stable(x)
    assert not calls, calls   # e.g. ["torch.softmax"], or what kernelwatch.NAMES says
    """
    from . import kernelwatch

    chosen = _groups(groups)
    calls: list[str] = []
    if not chosen:
        yield calls
        return
    rec = _Recorder(chosen, calls)
    undo = _patch_scipy(rec)
    before = kernelwatch.snapshot()
    try:
        named = by_name or "torch" in chosen
        with kernelwatch.scoped(), _function_watch()(rec) if named else contextlib.nullcontext():
            yield calls
    finally:
        for module, name, original in undo:
            setattr(module, name, original)
        if not calls:  # named already by the function mode, or only seen at the dispatcher
            for op in kernelwatch.recorded(before, chosen):
                rec.record(op)
