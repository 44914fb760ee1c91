"""Plain imports between a student's files: `from causal_attention import CausalAttention`.

The student's files are imported as modules of a package (`exercises.causal_attention`), so a
plain `import causal_attention` finds nothing on its own. `install` adds a finder at the end of
sys.meta_path, so that it only answers names no other finder knows (the standard library and the
installed packages come first): it hands back the package's own module object, imported as usual,
so `causal_attention.CausalAttention is exercises.causal_attention.CausalAttention`. make check
uses it with the files of exercises/, the grader's worker with the sources it was given.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any


class SiblingFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`name` -> the module `package.name`, for the top-level names in `names`."""

    def __init__(self, package: str, names: Iterable[str]) -> None:
        self.package, self.names = package, frozenset(n for n in names if n.isidentifier())
        self._spec: Any = None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None or fullname not in self.names:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        module = importlib.import_module(f"{self.package}.{spec.name}")
        self._spec = module.__spec__  # the import system replaces it with the alias's: kept here
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec  # already executed as package.name: nothing to run


def install(package: str, names: Iterable[str]) -> None:
    """Make each of `names` importable on its own as `package.<name>` (replacing an earlier
    install)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, SiblingFinder)]
    sys.meta_path.append(SiblingFinder(package, names))
