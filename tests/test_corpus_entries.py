"""The corpus entry format (tests/corpus_entries.py): defs and edits over a base, loud failures,
and a ratchet against whole copies of a solution module."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests import corpus_entries
from tests.corpus_entries import CORPUS, DEFS_SUFFIX, ROOT, EntryError, materialise, sources

BASE = '''"""Doc."""

import torch


def a(x):
    return x + 1


@staticmethod
def b(x):
    return x * 2


class C:
    pass
'''

# Entries whose modules still are whole files sharing a long run of lines with a solution.
# Converting one to <module>.defs.py or [[edits]] removes its line; no line may be added.
LEGACY_COPIES = frozenset((Path(__file__).parent / "corpus_legacy_copies.txt").read_text().split())
RUN = 15  # consecutive lines shared with a solution that make a module a copy of it


def entry(tmp_path: Path, toml: str, files: dict[str, str]) -> Path:
    e = tmp_path / "corpus" / "mistake_demo"
    (e / "exercises").mkdir(parents=True)
    (e / "expected.toml").write_text(toml)
    for name, text in files.items():
        (e / "exercises" / name).write_text(text)
    return e


def test_defs_replace_in_place_add_new_and_merge_imports(tmp_path: Path) -> None:
    """Does a defs file replace a same-named def where it stood, append a new one, and put its
    imports after the docstring?"""
    solution = (ROOT / "solutions" / "simple_attention.py").read_text()
    defs = "import math\n\n\ndef softmax_naive(x):\n    return x\n\n\ndef extra():\n    return 1\n"
    e = entry(tmp_path, 'base = "solutions"\n', {"simple_attention" + DEFS_SUFFIX: defs})
    text = sources(e)["simple_attention"]
    assert "def softmax_naive(x):\n    return x\n" in text
    assert "e = torch.exp(x)" not in text  # the solution's body is gone
    assert text.index("def softmax_naive") < text.index("def softmax_stable")  # in place
    assert text.rstrip().endswith("def extra():\n    return 1")
    assert text.index("import math") < text.index("def ")
    assert text.startswith(solution[:40])  # the docstring stays first
    compile(text, "simple_attention.py", "exec")


def test_edits_apply_and_a_stale_edit_names_the_entry(tmp_path: Path) -> None:
    """Does an exact edit change the base's text, and one that no longer applies fail, naming the
    entry and the module?"""
    ok = '[[edits]]\nmodule = "simple_attention"\nold = "dim=-1, keepdim=True)"\nnew = "dim=0)"\n'
    e = entry(tmp_path, 'base = "solutions"\n' + ok, {})
    assert "dim=0)" in sources(e)["simple_attention"]
    stale = '[[edits]]\nmodule = "simple_attention"\nold = "no such text"\nnew = "x"\n'
    (e / "expected.toml").write_text('base = "solutions"\n' + stale)
    with pytest.raises(EntryError, match=r"mistake_demo.*simple_attention\.py"):
        sources(e)


def test_defs_that_do_not_parse_name_the_entry(tmp_path: Path) -> None:
    e = entry(tmp_path, 'base = "solutions"\n', {"simple_attention" + DEFS_SUFFIX: "def (:\n"})
    with pytest.raises(EntryError, match="mistake_demo"):
        sources(e)


def test_materialise_keeps_whole_files_byte_for_byte(tmp_path: Path) -> None:
    """Are whole module files (raw bytes such as CR line endings) copied unchanged, beside the
    base's other modules?"""
    raw = b"import torch\r\rdef f():\r    return 1\r"
    e = entry(tmp_path, 'base = "solutions"\n', {})
    (e / "exercises" / "simple_attention.py").write_bytes(raw)
    out = materialise(e, tmp_path / "out", with_base=True)
    assert (out / "simple_attention.py").read_bytes() == raw
    assert (out / "causal_attention.py").read_bytes() == (
        ROOT / "solutions" / "causal_attention.py"
    ).read_bytes()


def copies() -> set[str]:
    solutions = {p.name: p.read_text().splitlines() for p in (ROOT / "solutions").glob("*.py")}
    found = set()
    for path in sorted(CORPUS.glob("*/exercises/*.py")):
        if path.name not in solutions:
            continue
        try:
            mine = path.read_text().splitlines()
        except (UnicodeDecodeError, ValueError):
            continue
        theirs = solutions[path.name]
        run = difflib.SequenceMatcher(None, mine, theirs, autojunk=False).find_longest_match(
            0, len(mine), 0, len(theirs)
        )
        if run.size >= RUN:
            found.add(f"{path.parent.parent.name}/{path.name}")
    return found


def test_no_new_whole_copy_of_a_solution() -> None:
    """Does no corpus module outside the legacy list share RUN consecutive lines with a solution?
    (Store it as <module>.defs.py or [[edits]] in expected.toml instead.)"""
    new = sorted(copies() - LEGACY_COPIES)
    assert not new, f"corpus modules copying a solution (store them as edits): {new}"


def test_the_legacy_list_only_shrinks() -> None:
    """Is every line of the legacy list still a copy (a converted entry must leave the list)?"""
    assert not sorted(LEGACY_COPIES - copies())


def test_an_exercise_a_whole_file_does_not_define_is_expected_to_score_0(tmp_path: Path) -> None:
    """A whole module file hands in only what it defines: an exercise it lacks (one added to the
    curriculum after the entry was written) is expected to score 0, the others full unless
    [points] says otherwise; a file that does not parse is not guessed at."""
    from learner import manifest

    entry = tmp_path / "entry"
    (entry / "exercises").mkdir(parents=True)
    (entry / "expected.toml").write_text('base = "solutions"\n\n[points]\nsoftmax_naive = 1.5\n')
    (entry / "exercises" / "simple_attention.py").write_text(
        "import torch\n\ndef attention_scores(query, inputs):\n    return inputs @ query\n\n"
        "def softmax_naive(x):\n    return x\n"
    )
    full = {e.id: e.points for e in manifest.load()}
    got = corpus_entries.expected_points(entry)
    simple = [e.id for e in manifest.load() if e.module == "simple_attention"]
    assert got["attention_scores"] == full["attention_scores"]
    assert got["softmax_naive"] == 1.5
    assert {ex: got[ex] for ex in simple if ex not in ("attention_scores", "softmax_naive")} == {
        ex: 0.0 for ex in simple if ex not in ("attention_scores", "softmax_naive")
    }
    others = [e.id for e in manifest.load() if e.module != "simple_attention"]
    assert all(got[ex] == full[ex] for ex in others)
    (entry / "exercises" / "simple_attention.py").write_text("def attention_scores(:\n")
    assert corpus_entries.expected_points(entry)["normalize_by_sum"] == full["normalize_by_sum"]


def test_notebooks_others_and_modules_not_handed_in_set_the_defaults(tmp_path: Path) -> None:
    """A notebook hands in what its code cells define (a cell that does not parse defines
    nothing); `others` is what every unlisted exercise scores; with base "none" a module neither
    solved nor handed in scores 0."""
    import json

    from learner import manifest

    full = {e.id: e.points for e in manifest.load()}
    entry = tmp_path / "entry"
    (entry / "exercises").mkdir(parents=True)
    (entry / "expected.toml").write_text('base = "solutions"\n')
    cells = [
        {"cell_type": "markdown", "source": ["def softmax_naive(x): ..."]},
        {"cell_type": "code", "source": ["def attention_scores(query, inputs):\n", "    return 1"]},
        {"cell_type": "code", "source": ["def normalize_by_sum(scores):\n", "    return (("]},
    ]
    notebook = entry / "exercises" / "simple_attention.ipynb"
    notebook.write_text(json.dumps({"cells": cells}))
    got = corpus_entries.expected_points(entry)
    assert got["attention_scores"] == full["attention_scores"]
    assert got["normalize_by_sum"] == got["softmax_naive"] == 0.0
    assert got["MultiHeadAttention"] == full["MultiHeadAttention"]
    notebook.write_text("{" * 100_000)  # not JSON, as a hostile notebook: nothing is guessed
    assert corpus_entries.expected_points(entry)["softmax_naive"] == full["softmax_naive"]
    notebook.unlink()

    (entry / "expected.toml").write_text(
        'base = "solutions"\nothers = 0\n[points]\ncausal_mask = 1\n'
    )
    got = corpus_entries.expected_points(entry)
    assert got["causal_mask"] == 1 and sum(got.values()) == 1

    (entry / "expected.toml").write_text('base = "none"\nsolved = ["causal_attention"]\n')
    got = corpus_entries.expected_points(entry)
    assert {e.id: got[e.id] for e in manifest.load() if got[e.id]} == {
        e.id: e.points for e in manifest.load() if e.module == "causal_attention"
    }
