"""The evasion scan: code that could hide a call from the run-time off-limits watch is found in
the source, ordinary attention code is not, and `make check` says so before the grader does."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest

from autograder import ROOT
from learner import evasion, manifest
from learner.public import expect
from tests import corpus_entries

CORPUS = ROOT / "tests" / "corpus"


def found(source: str) -> list[tuple[int, str]]:
    return [(line, what) for line, what, _ in evasion.scan_source(textwrap.dedent(source))]


# Each case: source, then the (line, construct) the scan must report. Comments say the route.
FLAGGED = [
    ("import multiprocessing as mp\n", [(1, "import multiprocessing")]),  # spawn: a new program
    ("import os\nos.execv('/bin/sh', [])\n", [(2, "os.execv")]),
    ("from os import posix_spawn\n", [(1, "from os import posix_spawn")]),
    ("import subprocess\n", [(1, "import subprocess")]),
    (
        "from concurrent.futures import ProcessPoolExecutor\n",
        [(1, "from concurrent.futures import ProcessPoolExecutor")],
    ),
    ("import torch\nlib = torch.library.Library('aten', 'IMPL')\n", [(2, "torch.library.Library")]),
    ("import torch\nk = torch.ops.aten._softmax\n", [(2, "torch.ops.aten._softmax")]),
    ("import torch.nn.functional as F\nk = F.torch.ops.aten\n", [(2, "F.torch.ops.aten")]),
    ("def f(m):\n    return m.library\n", [(2, "m.library")]),  # torch passed in
    (
        "import string, torch\nc = string.Formatter().get_field('0._C', [torch], {})\n",
        [(2, "string.Formatter"), (2, "string.Formatter().get_field")],
    ),
    ("from string import Formatter\n", [(1, "from string import Formatter")]),
    ("import torch\nc = vars(torch)['_' + 'C']\n", [(2, "vars(...)")]),
    ("import torch\nc = torch.__dict__['_' + 'C']\n", [(2, "torch.__dict__")]),
    ("import functools, torch\nc = functools.reduce(getattr, ['x'], torch)\n", [(2, "getattr")]),
    ("import torch\nc = type.__getattribute__(torch, 'x')\n", [(2, "type.__getattribute__")]),
    ("import torch\nc = object.__getattribute__(torch, 'x')\n", [(2, "object.__getattribute__")]),
    ("import inspect\nf = inspect.currentframe()\n", [(2, "inspect.currentframe")]),
    ("import inspect\nm = inspect.getmembers(1)\n", [(2, "inspect.getmembers")]),
    ("import traceback\nf = traceback.walk_stack(None)\n", [(2, "traceback.walk_stack")]),
    (  # `self` rebound: getattr on it is a computed lookup on torch
        "import torch\nclass A:\n    def f(self):\n        self = torch\n"
        "        return getattr(self, 'a' + 'b')\n",
        [(5, "getattr(...) with a computed name")],
    ),
    (
        "import torch\nclass A:\n    def f(self):\n"
        "        return (lambda self: getattr(self, 'a' + 'b'))(torch)\n",
        [(4, "getattr(...) with a computed name")],
    ),
    ("import torch\r# a CR-only file\rc = torch._C\r", [(3, "torch._C")]),
    ("import torch\r\n# CRLF\r\nc = torch._C\r\n", [(3, "torch._C")]),
    (
        "import torch\nwith torch._C.DisableTorchFunction():\n    pass\n",
        [(2, "torch._C.DisableTorchFunction")],
    ),
    (
        "from torch.utils import _python_dispatch\n",
        [(1, "from torch.utils import _python_dispatch")],
    ),
    ("import torch.utils._python_dispatch as d\n", [(1, "import torch.utils._python_dispatch")]),
    ("from torch._C import _disabled_torch_function_impl\n", [(1, "from torch._C import ...")]),
    ("import torch.overrides\n", [(1, "import torch.overrides")]),
    ("import torch\nf = torch.jit.script\n", [(2, "torch.jit.script")]),
    ("import sys\nw = sys.modules['learner.offlimits']\n", [(2, "sys.modules")]),
    ("import sys\nf = sys._getframe(1)\n", [(2, "sys._getframe")]),
    ("import learner.offlimits\n", [(1, "import learner.offlimits")]),
    ("from solutions import simple_attention\n", [(1, "from solutions import ...")]),
    ("import importlib\n", [(1, "import importlib")]),
    ("import builtins\n", [(1, "import builtins")]),
    ("import gc\n", [(1, "import gc")]),
    ("import ctypes\n", [(1, "import ctypes")]),
    ("import pickle\n", [(1, "import pickle")]),
    ("exec('x = 1')\n", [(1, "exec(...)")]),
    ("y = eval('1')\n", [(1, "eval(...)")]),
    ("m = __import__('os')\n", [(1, "__import__(...)")]),
    ("g = globals()\n", [(1, "globals(...)")]),
    ("def f(fn):\n    return fn.__globals__\n", [(2, "fn.__globals__")]),
    ("k = object.__subclasses__()\n", [(1, "object.__subclasses__")]),
    (
        "import torch\nname = 'so' + 'ftmax'\nf = getattr(torch, name)\n",
        [(3, "getattr(...) with a computed name")],
    ),
    ("import torch\nf = getattr(torch, '_C')\n", [(2, "getattr(torch, '_C')")]),
    ("def f(m, n, v):\n    setattr(m, n, v)\n", [(2, "setattr(...) with a computed name")]),
    ("b = __builtins__\n", [(1, "__builtins__")]),
    ("import torch\nt = torch\nc = t._C\n", [(3, "t._C")]),  # a module under another name
    ("def f(m):\n    return m._C\n", [(2, "m._C")]),
    ("g = getattr\n", [(1, "getattr")]),  # called later under another name
    ("import operator\nf = operator.attrgetter('x')\n", [(2, "operator.attrgetter")]),
    ("from torch.utils.data import DataLoader\n", [(1, "from torch.utils.data import ...")]),
    ("import sys\nsys.path.insert(0, '/')\n", [(2, "sys.path")]),  # import what it wrote
    ("import site\n", [(1, "import site")]),  # .pth files run code
    ("import torch\nm = torch.load('m.pt', weights_only=False)\n", [(2, "torch.load")]),
    ("from typing import get_type_hints\n", [(1, "from typing import get_type_hints")]),
    ("import timeit\n", [(1, "import timeit")]),  # timeit('code') runs a string
    ("x = '#'; import ctypes  # hidden behind a '#' in a string\n", [(1, "import ctypes")]),
    ('s = """\n#"""; import ctypes\n', [(2, "import ctypes")]),  # a '#' inside a string
    ("import \\\n    ctypes\n", [(1, "import ctypes")]),  # a backslash ends the line
    ("from torch import (  # the compiler\n    jit,\n)\n", [(1, "from torch import jit")]),
    ("import \uff47\uff43\n", [(1, "import gc")]),  # fullwidth letters: Python reads NFKC
    ("from torch import (\n    nn,\n    jit,\n)\n", [(1, "from torch import jit")]),
]


@pytest.mark.parametrize(("source", "expected"), FLAGGED, ids=[c[1][0][1] for c in FLAGGED])
def test_route_around_the_watch_is_found(source: str, expected: list[tuple[int, str]]) -> None:
    """Is each way of undoing or going around the watch reported, with its line, also by
    scan(), which parses every module whole?"""
    assert found(source) == expected
    assert len(evasion.scan({"m": textwrap.dedent(source)})) == len(expected)


ORDINARY = """
from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import simple_attention
from .simple_attention import softmax_stable
from exercises.causal_attention import CausalAttention


class Heads(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        for i in range(n):
            setattr(self, f"head_{i}", nn.Linear(2, 2))
        self.register_buffer("mask", torch.triu(torch.ones(3, 3), diagonal=1))

    def forward(self, x: Tensor) -> Tensor:
        heads = [getattr(self, f"head_{i}")(x) for i in range(2)]
        scale = math.sqrt(x.shape[-1])
        return torch.cat(heads, dim=-1) / scale + np.float32(0) + F.relu(x).sum() * 0


def done() -> None:
    print(sys.version, os.getcwd(), type(done).__name__)
    os._exit(0)
"""


DEBUGGING = """
import inspect
import os
import pprint
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn


class Heads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        print(inspect.signature(self.forward), inspect.getsource(Heads)[:10])

    def forward(self, x):
        start = time.perf_counter()
        try:
            out = torch.exp(x)
        except Exception:
            traceback.print_exc()
            raise
        worker = threading.Thread(target=pprint.pprint, args=(out.shape,))
        worker.start()
        worker.join()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(print, [1, 2]))
        if os.fork() == 0:
            os._exit(0)
        print(time.perf_counter() - start, threading.current_thread().name)
        return out
"""


def test_debugging_modules_are_not_flagged() -> None:
    """Do inspect, traceback, threading, a thread pool, os.fork, time and pprint, as used while
    debugging, pass without a report (the watch counts calls in threads and forked children)?"""
    assert found(DEBUGGING) == []


def test_ordinary_code_is_not_flagged() -> None:
    """Do imports between the student's files, setattr/getattr on self, math, numpy, F, nn,
    sys.version and os._exit pass without a report?"""
    assert found(ORDINARY) == []


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_reference_and_stubs_are_clean(folder: str) -> None:
    """Are the reference solutions and the stubs free of anything the scan reports?"""
    sources = {m: (ROOT / folder / f"{m}.py").read_text() for m in manifest.modules()}
    assert evasion.scan(sources) == []


def correct_entries() -> list[Path]:
    return sorted(
        p
        for pattern in ("variant_*", "reference", "partial_*")
        for p in CORPUS.glob(pattern)
        if corpus_entries.own_sources(p)
    )


@pytest.mark.parametrize("entry", correct_entries(), ids=lambda p: p.name)
def test_correct_variants_are_clean(entry: Path) -> None:
    """Does no correct variant in the corpus lose its off-limits exercises to the scan?"""
    sources = corpus_entries.own_sources(entry)
    assert evasion.scan(sources) == []


def test_the_report_names_file_line_and_reason() -> None:
    """Does scan() say which file and line, what it found and why it matters?"""
    sources = {"numpy_attention": "import numpy as np\nimport ctypes\n"}
    assert evasion.scan(sources) == [
        f"numpy_attention.py line 2: import ctypes ({evasion.INTERNALS})"
    ]


def test_a_file_that_does_not_parse_is_left_to_its_own_errors() -> None:
    """Does a syntax error in one file leave the others scanned (the worker reports it)?"""
    sources = {"simple_attention": "def (:\n", "causal_attention": "import gc\n"}
    assert evasion.scan(sources) == [f"causal_attention.py line 1: import gc ({evasion.INTERNALS})"]


def _package(tmp_path: Path, extra: str) -> types.ModuleType:
    package = tmp_path / "exercises"
    package.mkdir()
    for m in manifest.modules():
        (package / f"{m}.py").write_text((ROOT / "solutions" / f"{m}.py").read_text())
    with open(package / "numpy_attention.py", "a") as f:
        f.write(extra)
    module = types.ModuleType("exercises.simple_attention")
    module.__file__ = str(package / "simple_attention.py")
    return module


def test_make_check_reports_it_on_an_offlimits_exercise(tmp_path: Path) -> None:
    """Does the public off-limits check fail softmax_stable, naming the file and line, when
    another of the student's files imports ctypes?"""
    module = _package(tmp_path, "\nimport ctypes\n")
    with pytest.raises(AssertionError) as failed:
        expect.expect_own_code(module, "softmax_stable", lambda: None)
    message = str(failed.value)
    assert "softmax_stable cannot be checked for off-limits calls" in message
    assert "numpy_attention.py line" in message and "import ctypes" in message


def test_make_check_passes_clean_code(tmp_path: Path) -> None:
    """Does the same check pass the reference solutions with nothing added?"""
    module = _package(tmp_path, "")
    expect.expect_own_code(module, "softmax_stable", lambda: None)


def test_numpy_only_exercise_is_not_forfeited_by_an_evasion() -> None:
    """Does code that could undo the softmax watch cost the softmax and attention exercises,
    but not self_attention_numpy, whose only rule (numpy only) is read in its own source?"""
    from autograder.grading import grader
    from autograder.grading.model import Submission

    sources = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
    sources["causal_attention"] += "\nimport ctypes\n"
    submission = Submission("s", ROOT, sources, "digest")
    exercises = manifest.by_id()
    assert "ctypes" in (grader.static_scan(submission, exercises["softmax_rows"]) or "")
    assert "ctypes" in (grader.static_scan(submission, exercises["CausalAttention"]) or "")
    assert grader.static_scan(submission, exercises["self_attention_numpy"]) is None
