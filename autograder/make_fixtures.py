"""Regenerate fixtures/chapter_seeded.json: the book's seeded modules, run by the reference.

`python -m autograder.make_fixtures` writes the file; `--check` fails when it is stale.
Only this file is generated: the document fixtures are typed from the documents by hand. The
book prints these outputs to 4 decimals (sections 3.4.2, 3.5.3, 3.6.1, 3.6.2); the kit's
tests/test_reference.py holds those printed values and checks this file against them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import torch

from learner.public.expect import FIXTURES
from learner.public.scenarios import batch, journey

PATH = FIXTURES / "chapter_seeded.json"
COMMAND = "python -m autograder.make_fixtures"
DECIMALS = 7  # float32 carries about 7 significant digits
# Another CPU's float32 kernels may round the last decimal the other way: a file within this of
# what the reference computes here is current (the book prints 4 decimals)
CURRENT_ATOL = 1e-6


def _cases() -> dict[str, tuple[int, str, str, Callable[[], torch.Tensor]]]:
    """name -> (seed, book section, the call, how to run it with the reference)."""
    from solutions import causal_attention as ca
    from solutions import multihead_attention as mh
    from solutions import trainable_attention as ta

    return {
        "SelfAttention_v2": (
            789,
            "book section 3.4.2",
            "torch.manual_seed(789); SelfAttention_v2(d_in=3, d_out=2)(inputs)",
            lambda: ta.SelfAttention_v2(3, 2)(journey()),
        ),
        "CausalAttention": (
            123,
            "book section 3.5.3",
            "torch.manual_seed(123); CausalAttention(d_in=3, d_out=2, context_length=6, "
            "dropout=0.0)(torch.stack((inputs, inputs)))",
            lambda: ca.CausalAttention(3, 2, 6, 0.0)(batch()),
        ),
        "MultiHeadAttentionWrapper": (
            123,
            "book section 3.6.1",
            "torch.manual_seed(123); MultiHeadAttentionWrapper(d_in=3, d_out=2, context_length=6, "
            "dropout=0.0, num_heads=2)(torch.stack((inputs, inputs)))",
            lambda: mh.MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=2)(batch()),
        ),
        "MultiHeadAttention": (
            123,
            "book section 3.6.2",
            "torch.manual_seed(123); MultiHeadAttention(d_in=3, d_out=2, context_length=6, "
            "dropout=0.0, num_heads=2)(torch.stack((inputs, inputs)))",
            lambda: mh.MultiHeadAttention(3, 2, 6, 0.0, num_heads=2)(batch()),
        ),
    }


def generate() -> dict[str, Any]:
    """The contents of chapter_seeded.json, computed now by the reference solutions."""
    values: dict[str, Any] = {}
    for name, (seed, section, call, run) in _cases().items():
        torch.manual_seed(seed)
        with torch.no_grad():
            out = run()
        values[name] = {
            "value": [_rounded(row) for row in out.tolist()],
            "source": f"{section}, seed {seed}; reference under torch {torch.__version__}",
            "call": call,
            "seed": seed,
            "torch": torch.__version__,
            "command": COMMAND,
        }
    return {
        "scenario": 'the book\'s seeded modules on "Your journey starts with one step" '
        "(doc002_003_journey.json inputs; a batch is the inputs stacked twice)",
        "generated_by": COMMAND,
        "values": values,
    }


def _rounded(x: Any) -> Any:
    return [_rounded(v) for v in x] if isinstance(x, list) else round(float(x), DECIMALS)


def render(data: dict[str, Any]) -> str:
    """JSON with each innermost list of numbers on one line."""
    text = json.dumps(data, indent=2)

    def one_line(m: re.Match[str]) -> str:
        return " ".join(m.group(0).split()).replace("[ ", "[").replace(" ]", "]")

    return re.sub(r"\[[^\[\]{}\"]*\]", one_line, text) + "\n"


def same(a: Any, b: Any, atol: float = CURRENT_ATOL) -> bool:
    """The same JSON data, numbers (not booleans) equal within `atol`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, atol) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and bool not in (type(a), type(b)):
        return abs(a - b) <= atol
    return type(a) is type(b) and a == b


def is_current(text: str, data: dict[str, Any]) -> bool:
    """Does the file's `text` hold `data` (numbers within CURRENT_ATOL)?"""
    try:
        return same(json.loads(text), data)
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    data = generate()
    current = PATH.read_text(encoding="utf-8") if PATH.exists() else ""
    if is_current(current, json.loads(render(data))):  # compared as the file rounds them
        return 0
    if args.check:
        print(f"stale: {PATH.name} (run `{COMMAND}`)", file=sys.stderr)
        return 1
    PATH.write_text(render(data), encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
