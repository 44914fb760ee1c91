"""Code that could switch off or go around the off-limits check, looked for in the source.

The check counts softmax and attention calls at torch's dispatcher (kernelwatch), below Python,
in every thread and forked child of the student's process. What could still undo or avoid it is
code that reaches the dispatcher or the interpreter's internals (torch._C, torch.library, raw
torch.ops, ctypes, gc, sys.modules, frames), that starts another program (where the check is not
installed), that compiles code which runs outside torch's operators, that builds or loads code
at run time, or that looks up an attribute by a name computed at run time (getattr with a
computed name, string.Formatter().get_field, operator.attrgetter, vars(x)[...], x.__dict__[...],
type.__getattribute__, ...), since no one can read what it reaches. None of that is needed to
write attention, so the grader reads every module of the submission for it and, where it finds
any, every exercise with off-limits calls scores 0. Everyday modules (threading, inspect,
traceback, time, pprint, ...) cost nothing. The scan runs in the grader's process, which no
student code can reach; it parses the whole source (every line ending, comments and strings as
Python's own tokenizer reads them).

scan({"simple_attention": source, ...}) -> ["simple_attention.py line 3: import ctypes (...)"]
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from . import parse

# The off-limits groups whose exercises such code forfeits: those the dispatcher-level watch
# guards ("torch", numpy only, is read in the exercise's own source and watched by name).
GUARDED = frozenset({"softmax", "fused_attention"})

INTERNALS = "reaches torch's or Python's internals, where the off-limits check can be undone"
PROGRAMS = "starts another program, where the off-limits check is not installed"
KIT = "reaches the checker's own modules or Python's import machinery"
INTROSPECTION = "reaches the interpreter's frames or every live object"
DYNAMIC = "builds or loads code while it runs, which no one can read beforehand"
COMPUTED = "looks up an attribute by a name computed while it runs, which no one can read"
COMPILED = "compiles code that runs outside torch's checked operators"

# Modules by their first dotted component: importing any of them (or a submodule) is flagged.
MODULES: dict[str, str] = {
    **dict.fromkeys(("multiprocessing", "subprocess", "pty"), PROGRAMS),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi", "gc"), INTERNALS),
    **dict.fromkeys(
        ("autograder", "learner", "solutions", "builtins", "importlib", "runpy", "site"), KIT
    ),
    **dict.fromkeys(("pkgutil", "zipimport", "pydoc", "unittest", "pytest", "_pytest"), KIT),
    **dict.fromkeys(("doctest", "timeit", "trace", "profile", "cProfile", "pdb", "bdb"), DYNAMIC),
    **dict.fromkeys(
        ("pickle", "_pickle", "marshal", "dill", "cloudpickle", "code", "codeop", "shelve"),
        DYNAMIC,
    ),
}
# Dotted module paths flagged with their submodules (torch.jit.script, torch.ops.aten.X, ...).
PATHS: dict[str, str] = {
    "torch.jit": COMPILED,
    "torch.compile": COMPILED,
    "torch.export": COMPILED,
    "torch.utils.cpp_extension": COMPILED,
    "torch.overrides": INTERNALS,
    "torch.library": INTERNALS,
    "torch.ops": INTERNALS,
    "torch.multiprocessing": PROGRAMS,
    "torch.distributed": PROGRAMS,
    "torch.utils.data": PROGRAMS,  # its workers are other processes
    "concurrent.futures.process": PROGRAMS,
    "asyncio.subprocess": PROGRAMS,
    "numpy.ctypeslib": INTERNALS,
    "torch.load": DYNAMIC,  # unpickling runs code
    "torch.serialization": DYNAMIC,
    "torch.package": DYNAMIC,
    "torch.hub": DYNAMIC,
    "numpy.load": DYNAMIC,
}
# Attributes of particular modules.
MODULE_ATTRS: dict[str, dict[str, str]] = {
    "os": dict.fromkeys(
        (
            "forkpty",
            "posix_spawn",
            "posix_spawnp",
            "system",
            "popen",
            *(f"exec{s}" for s in ("v", "ve", "l", "le", "lp", "lpe", "vp", "vpe")),
            *(f"spawn{s}" for s in ("v", "ve", "l", "le", "lp", "lpe", "vp", "vpe")),
        ),
        PROGRAMS,
    ),
    "sys": dict.fromkeys(
        (
            "modules",
            "path",
            "settrace",
            "setprofile",
            "meta_path",
            "path_hooks",
            "path_importer_cache",
            "exc_info",  # its traceback leads to frames
            "exception",
            "last_traceback",
            "last_exc",
        ),
        KIT,
    ),
    "typing": {"get_type_hints": DYNAMIC},  # evaluates annotations written as strings
    "operator": dict.fromkeys(("attrgetter", "methodcaller"), COMPUTED),
    "string": {"Formatter": COMPUTED},  # Formatter().get_field("0._C", [torch], {})
    "inspect": {
        **dict.fromkeys(
            (
                "currentframe",
                "stack",
                "trace",
                "getouterframes",
                "getinnerframes",
                "getframeinfo",
                "getclosurevars",
            ),
            INTROSPECTION,
        ),
        **dict.fromkeys(("getmembers", "getmembers_static", "getattr_static"), COMPUTED),
    },
    "traceback": dict.fromkeys(("walk_stack", "walk_tb", "extract_stack"), INTROSPECTION),
    "concurrent.futures": {"ProcessPoolExecutor": PROGRAMS},
    "asyncio": dict.fromkeys(("create_subprocess_exec", "create_subprocess_shell"), PROGRAMS),
    "threading": dict.fromkeys(("settrace", "setprofile", "settrace_all_threads"), KIT),
}
# Attributes that lead to frames, globals, every live object or a computed lookup, on anything.
INTROSPECTIVE_ATTRS = frozenset(
    {
        "__globals__",
        "__closure__",
        "__code__",
        "__subclasses__",
        "__bases__",
        "__base__",
        "__mro__",
        "__dict__",
        "__builtins__",
        "__import__",
        "__getattribute__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__loader__",
        "__spec__",
        "__traceback__",
        "get_field",  # string.Formatter's, whatever it was reached through
        "f_back",
        "f_locals",
        "f_globals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "gi_frame",
        "cr_frame",
        "ag_frame",
    }
)
# Built-in functions, called by name.
CALLS: dict[str, str] = {
    **dict.fromkeys(("eval", "exec", "compile", "__import__", "breakpoint"), DYNAMIC),
    **dict.fromkeys(("globals", "locals", "vars"), COMPUTED),
}
NAMED_ATTRIBUTE = ("getattr", "setattr", "delattr")  # flagged when the name is not a plain literal


PUBLIC = frozenset({"os._exit"})  # named with an underscore, documented and harmless here


def _private(name: str) -> bool:
    """`_C`, `_python_dispatch`, `__x`; not `_` alone and not dunders such as `__init__`."""
    return (
        len(name) > 1
        and name.startswith("_")
        and not (name.startswith("__") and name.endswith("__"))
    )


def _flagged_module(path: str) -> str | None:
    """Why importing the dotted module `path` is flagged, or None."""
    parts = path.split(".")
    if parts[0] in MODULES:
        return MODULES[parts[0]]
    for prefix, why in PATHS.items():
        if path == prefix or path.startswith(prefix + "."):
            return why
    if any(_private(p) for p in parts):
        return INTERNALS
    return None


class _Scan(ast.NodeVisitor):
    def __init__(self, self_rebound: bool) -> None:
        self.modules: dict[str, str] = {}  # local name -> the dotted module it is bound to
        self.hits: list[tuple[int, str, str]] = []
        self.self_rebound = self_rebound  # `self` is bound to something else somewhere
        self.scopes: list[bool] = []  # per enclosing def or lambda: is it a method?
        self.in_class = False

    def _hit(self, node: ast.AST, what: str, why: str) -> None:
        self.hits.append((getattr(node, "lineno", 0), what, why))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer, self.in_class = self.in_class, True
        self.generic_visit(node)
        self.in_class = outer

    def _scope(self, node: ast.AST, method: bool) -> None:
        outer = self.in_class
        self.scopes.append(method)
        self.in_class = False
        self.generic_visit(node)
        self.in_class = outer
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        first = node.args.posonlyargs + node.args.args
        self._scope(node, self.in_class and bool(first) and first[0].arg == "self")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope(node, False)

    def _on_self(self, obj: ast.expr) -> bool:
        """`self` of the method we are in, never rebound anywhere in the module."""
        return (
            isinstance(obj, ast.Name)
            and obj.id == "self"
            and bool(self.scopes)
            and self.scopes[-1]
            and not self.self_rebound
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            why = _flagged_module(alias.name)
            if why:
                self._hit(node, f"import {alias.name}", why)
            if alias.asname:
                self.modules[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.modules[root] = root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = "." * node.level + (node.module or "")
        if node.level == 0 and node.module:
            why = _flagged_module(node.module)
            if why:
                self._hit(node, f"from {node.module} import ...", why)
                return
        for alias in node.names:
            full = f"{node.module}.{alias.name}" if node.level == 0 and node.module else alias.name
            why = _flagged_module(full) if node.level == 0 else None
            attr_why = MODULE_ATTRS.get(node.module or "", {}).get(alias.name)
            if full in PUBLIC:
                continue
            if alias.name in INTROSPECTIVE_ATTRS or alias.name in NAMED_ATTRIBUTE:
                attr_why = attr_why or COMPUTED  # from builtins import getattr as g, ...
            if why or attr_why or (node.level == 0 and _private(alias.name)):
                self._hit(node, f"from {base} import {alias.name}", why or attr_why or INTERNALS)
            elif node.level == 0 and node.module:
                self.modules[alias.asname or alias.name] = full  # may be a module: torch.nn

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node, self.modules)
        if node.attr in INTROSPECTIVE_ATTRS:
            why = COMPUTED if node.attr in _LOOKUPS else INTROSPECTION
            self._hit(node, ast.unparse(node), why)
        elif node.attr in ANY_ROOT:  # m.library, whatever m is: a module passed as an argument
            self._hit(node, ast.unparse(node), ANY_ROOT[node.attr])
            return
        elif dotted is not None:
            why = _flagged_path(dotted)
            if why and dotted not in PUBLIC:
                self._hit(node, ast.unparse(node), why)
                return  # torch._C._foo once, not once per part
        elif _private(node.attr) and _root(node) not in ("self", "cls"):
            self._hit(node, ast.unparse(node), INTERNALS)  # t = torch; t._C, or a parameter's
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id in INTROSPECTIVE_ATTRS:
            self._hit(node, node.id, KIT)
        elif node.id in CALLS or node.id in NAMED_ATTRIBUTE:  # passed around: g = getattr
            self._hit(node, node.id, CALLS.get(node.id, COMPUTED))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in CALLS:
            self._hit(node, f"{func.id}(...)", CALLS[func.id])
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        elif isinstance(func, ast.Name) and func.id in NAMED_ATTRIBUTE:
            obj = node.args[0] if node.args else None
            name = node.args[1] if len(node.args) >= 2 else None
            literal = isinstance(name, ast.Constant) and isinstance(name.value, str)
            if literal and (_private(name.value) or name.value in INTROSPECTIVE_ATTRS):
                self._hit(node, ast.unparse(node), INTERNALS)
            elif not literal and not (
                obj is not None and self._on_self(obj) and func.id != "delattr"
            ):
                self._hit(node, f"{func.id}(...) with a computed name", COMPUTED)
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        self.generic_visit(node)


_LOOKUPS = frozenset({"__dict__", "__getattribute__", "__getattr__", "__setattr__", "get_field"})


def _self_rebound(tree: ast.AST) -> bool:
    """Whether `self` names anything but a method's first parameter somewhere (`self = torch`,
    `lambda self: ...`, `import torch as self`, a loop or with target, a later parameter)."""
    firsts: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = item.args.posonlyargs + item.args.args
                    if args:
                        firsts.add(id(args[0]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "self" and not isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, ast.arg) and node.arg == "self" and id(node) not in firsts:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name) == "self":
            return True
        if isinstance(node, (ast.Global, ast.Nonlocal)) and "self" in node.names:
            return True
    return False


# Attribute names flagged on anything: torch's own modules reached under another name.
ANY_ROOT = {
    "library": INTERNALS,
    "ops": INTERNALS,
    "overrides": INTERNALS,
    "jit": COMPILED,
    "cpp_extension": COMPILED,
    "ctypeslib": INTERNALS,
}


def _flagged_path(dotted: str) -> str | None:
    """Why the dotted attribute path is flagged, also where it passes through another module
    (torch.nn.functional.torch.ops, np.ctypeslib), or None."""
    parts = dotted.split(".")
    for i in range(len(parts)):
        owner, attr = ".".join(parts[i:-1]), parts[-1]
        why = MODULE_ATTRS.get(owner, {}).get(attr) or (
            _flagged_module(".".join(parts[i:])) if i == 0 or parts[i] == "torch" else None
        )
        if why:
            return why
    return None


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain starts from (`self` for self.a.b), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.Attribute, modules: dict[str, str]) -> str | None:
    """`torch.utils._python_dispatch` for an attribute chain rooted at an imported module."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name) or cur.id not in modules:
        return None
    return ".".join([modules[cur.id], *reversed(parts)])


def scan_source(source: str) -> list[tuple[int, str, str]]:
    """(line, what, why) for each construct in one module's source; a SyntaxError propagates.

    The source is parsed whole by Python's own tokenizer and parser, as the worker compiles it:
    a CR-only or CRLF file, a string holding a '#', a backslash continuation, fullwidth letters
    (read NFKC) are all read as Python reads them."""
    tree = parse.parse(source)  # bounded: a SyntaxError for a source too deep to walk
    scan = _Scan(_self_rebound(tree))
    # Imports first, wherever they are, so that a name bound later in the file is still known.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                scan.modules.setdefault(alias.asname or root, alias.name if alias.asname else root)
    scan.visit(tree)
    return sorted(set(scan.hits))


def scan(sources: Mapping[str, str]) -> list[str]:
    """Every construct in the submission's modules, as `module.py line N: what (why)`."""
    found = []
    for module, source in sources.items():
        try:
            hits = scan_source(source)
        except (SyntaxError, ValueError):
            continue  # the module does not import: its exercises are lost already
        found += [f"{module}.py line {line}: {what} ({why})" for line, what, why in hits]
    return found
