"""Code that could hide a call from the run-time off-limits watch.

The watch (offlimits.watch) runs inside the student's own process, so code that runs a call in
another thread or process, switches torch's modes off through its private internals, reaches the
kit's modules or the interpreter's frames, or builds code at run time can slip past it. None of
that is needed to write attention, so the grader reads the whole submission's source for it and,
where it finds any, cannot vouch for the exercises with off-limits calls: they score 0. The scan
runs in the grader's process, which no student code can reach.

scan({"simple_attention": source, ...}) -> ["simple_attention.py line 3: import threading (...)"]
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Mapping

THREADS = "runs code in another thread or process, where the off-limits watch does not see it"
INTERNALS = "reaches into private internals, where the off-limits watch can be switched off"
KIT = "reaches the kit's own modules or the interpreter's, where the watch lives"
INTROSPECTION = "inspects the interpreter's frames and objects, where the watch lives"
DYNAMIC = "builds or loads code at run time, which no one can read before it runs"
COMPILED = "compiles code that runs outside torch's Python-level watch"

# Modules by their first dotted component: importing any of them (or a submodule) is flagged.
MODULES: dict[str, str] = {
    **dict.fromkeys(
        ("threading", "_thread", "multiprocessing", "concurrent", "asyncio", "subprocess", "pty"),
        THREADS,
    ),
    **dict.fromkeys(("ctypes", "_ctypes", "cffi"), INTERNALS),
    **dict.fromkeys(
        ("autograder", "solutions", "builtins", "importlib", "runpy", "site", "pkgutil"), KIT
    ),
    **dict.fromkeys(("zipimport", "pydoc", "unittest", "pytest", "_pytest"), KIT),
    **dict.fromkeys(("doctest", "timeit", "trace", "profile", "cProfile", "pdb", "bdb"), DYNAMIC),
    **dict.fromkeys(("gc", "inspect", "traceback"), INTROSPECTION),
    **dict.fromkeys(
        ("pickle", "_pickle", "marshal", "dill", "cloudpickle", "code", "codeop"), DYNAMIC
    ),
}
# Dotted module paths flagged with their submodules (torch.jit.script, torch.overrides.X, ...).
PATHS: dict[str, str] = {
    "torch.jit": COMPILED,
    "torch.compile": COMPILED,
    "torch.utils.cpp_extension": COMPILED,
    "torch.overrides": INTERNALS,
    "torch.library": INTERNALS,
    "torch.multiprocessing": THREADS,
    "torch.distributed": THREADS,
    "torch.utils.data": THREADS,
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
            "fork",
            "forkpty",
            "register_at_fork",
            "posix_spawn",
            "posix_spawnp",
            "system",
            "popen",
            "execv",
            "execve",
            "execl",
            "execle",
            "execlp",
            "execlpe",
            "execvp",
            "execvpe",
            "spawnv",
            "spawnve",
            "spawnl",
            "spawnle",
            "spawnlp",
            "spawnlpe",
            "spawnvp",
            "spawnvpe",
        ),
        THREADS,
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
        ),
        KIT,
    ),
    "typing": {"get_type_hints": DYNAMIC},  # evaluates annotations written as strings
    "operator": dict.fromkeys(("attrgetter", "methodcaller"), INTERNALS),
}
# Attributes that lead to frames, globals and every live object, on anything.
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
    **dict.fromkeys(("eval", "exec", "compile", "__import__"), DYNAMIC),
    **dict.fromkeys(("globals", "locals", "vars"), INTROSPECTION),
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
    def __init__(self) -> None:
        self.modules: dict[str, str] = {}  # local name -> the dotted module it is bound to
        self.hits: list[tuple[int, str, str]] = []

    def _hit(self, node: ast.AST, what: str, why: str) -> None:
        self.hits.append((getattr(node, "lineno", 0), what, why))

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
            if why or attr_why or (node.level == 0 and _private(alias.name)):
                self._hit(node, f"from {base} import {alias.name}", why or attr_why or INTERNALS)
            elif node.level == 0 and node.module:
                self.modules[alias.asname or alias.name] = full  # may be a module: torch.nn

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node, self.modules)
        if node.attr in INTROSPECTIVE_ATTRS:
            self._hit(node, ast.unparse(node), INTROSPECTION)
        elif dotted is not None:
            owner, _, attr = dotted.rpartition(".")
            why = MODULE_ATTRS.get(owner, {}).get(attr) or _flagged_module(dotted)
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
            self._hit(node, node.id, CALLS.get(node.id, INTERNALS))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in CALLS:
            self._hit(node, f"{func.id}(...)", CALLS[func.id])
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        elif isinstance(func, ast.Name) and func.id in NAMED_ATTRIBUTE and len(node.args) >= 2:
            obj, name = node.args[0], node.args[1]
            literal = isinstance(name, ast.Constant) and isinstance(name.value, str)
            on_self = isinstance(obj, ast.Name) and obj.id == "self"
            if literal and (_private(name.value) or name.value in INTROSPECTIVE_ATTRS):
                self._hit(node, ast.unparse(node), INTERNALS)
            elif not literal and not (on_self and func.id != "delattr"):
                self._hit(node, f"{func.id}(...) with a computed name", INTERNALS)
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        self.generic_visit(node)


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
    """(line, what, why) for each construct in one module's source; a SyntaxError propagates."""
    scan = _Scan()
    tree = ast.parse(source)
    # Imports first, wherever they are, so that a name bound later in the file is still known.
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                scan.modules.setdefault(alias.asname or root, alias.name if alias.asname else root)
    scan.visit(tree)
    return sorted(set(scan.hits))


# Every construct above is spelled with one of these names in code, or a private one (`_x`): a
# module that holds none of them is clean without being parsed, which is most modules. Module
# names are words of prose too ("generated from solutions/", "the library softmax"): they count
# only after an import, a from, a comma or a dot.
_NAMES = sorted(
    {
        *(attr for attrs in MODULE_ATTRS.values() for attr in attrs),
        *INTROSPECTIVE_ATTRS,
        *CALLS,
        *NAMED_ATTRIBUTE,
    }
)
_MODULE_WORDS = sorted({*MODULES, *(part for path in PATHS for part in path.split(".")[1:])})
_SUSPECT = re.compile(
    r"\b(?:" + "|".join(map(re.escape, _NAMES)) + r")\b"
    r"|(?<!\w)_(?!_\w*__\b)\w"  # a private name: _C, __x; not _ alone, not __init__
    # between them: blanks, a "(", a backslash ending the line, comments inside brackets
    r"|(?:\bimport\b|\bfrom\b|,|\.)(?:[\s\\(]|#[^\n]*)*(?:" + "|".join(_MODULE_WORDS) + r")\b"
)


def _suspect(source: str) -> bool:
    """Whether `source` may hold a construct the scan looks for, outside comments (Python reads
    identifiers NFKC-normalised, so the text is too)."""
    text = unicodedata.normalize("NFKC", source)
    for match in _SUSPECT.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
        # After a '#' with no quote before the match, the match is in a comment or in a string
        # the line began inside: either way not code. A quote anywhere before it may have
        # opened or closed a string around the '#', so then the module is read.
        if "#" not in line or "'" in line or '"' in line:
            return True
    return False


def scan(sources: Mapping[str, str]) -> list[str]:
    """Every construct in the submission's modules, as `module.py line N: what (why)`."""
    found = []
    for module, source in sources.items():
        if not _suspect(source):
            continue
        try:
            hits = scan_source(source)
        except SyntaxError:
            continue  # the module does not import: its exercises are lost already
        found += [f"{module}.py line {line}: {what} ({why})" for line, what, why in hits]
    return found
