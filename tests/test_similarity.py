"""Similar submissions: corpus submissions disguised (every local name renamed, the layout
rewritten by ast.unparse, comments gone) are still paired with their original; different
implementations, the stubs and the reference are not; the pair reaches report.html escaped,
and a real autograde run shows it."""

from __future__ import annotations

import ast
import builtins
import json
import shutil
from pathlib import Path

import pytest

from autograder import ROOT
from autograder.grading import report_html, similarity
from tests import corpus_entries

CORPUS = ROOT / "tests" / "corpus"


def sources(entry: str) -> dict[str, str]:
    return corpus_entries.own_sources(CORPUS / entry)


class _Rename(ast.NodeTransformer):
    def __init__(self, keep: set[str]) -> None:
        self.keep = keep

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id not in self.keep:
            node.id = f"my_{node.id}_x"
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        if node.arg != "self":
            node.arg = f"my_{node.arg}_x"
        return node


def disguise(text: str) -> str:
    """Every local name and argument renamed, then the module written out again by ast.unparse:
    other line breaks, spacing, quotes and parentheses, no comments."""
    tree = ast.parse(text)
    keep = set(dir(builtins)) | {"self"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            keep |= {a.asname or a.name.split(".")[0] for a in node.names}
    keep |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return "# handed in\n\n" + ast.unparse(_Rename(keep).visit(tree))


def disguised(entry: str) -> dict[str, str]:
    return {m: disguise(t) for m, t in sources(entry).items()}


@pytest.fixture(scope="module")
def found() -> similarity.Found:
    """Four different implementations, each with a disguised copy, the reference (and a
    disguised copy of it), the stubs, and two identical hand-ins."""
    entries = ["variant_loops", "variant_einsum", "variant_reshape_permute", "variant_logsumexp"]
    subs = [(e, sources(e)) for e in entries]
    subs += [(f"copy_of_{e}", disguised(e)) for e in entries]
    subs += [
        ("reference", sources("reference")),
        ("reference_disguised", disguised("reference")),
        ("stubs", sources("stubs")),
        ("twin_a", sources("variant_float_mask")),
        ("twin_b", sources("variant_float_mask")),
    ]
    return similarity.similar_pairs(subs)


def test_disguised_copies_pair_with_their_original(found: similarity.Found) -> None:
    pairs = {(p.a, p.b): p for p in found.pairs}
    for e in ["variant_loops", "variant_einsum", "variant_reshape_permute", "variant_logsumexp"]:
        pair = pairs.get((f"copy_of_{e}", e))
        assert pair is not None, f"{e} and its disguised copy were not paired"
        assert pair.score >= similarity.THRESHOLD
        assert pair.lines and all(a and b for a, b in pair.lines.values())


def test_different_code_the_stubs_and_the_reference_match_nothing(
    found: similarity.Found,
) -> None:
    """Only the copies (and the twins, as one group) appear: no pair of two different
    implementations, nothing with the reference or the stubs, disguised or not."""
    names = {n for p in found.pairs for n in (p.a, p.b)} | {n for g in found.same for n in g}
    assert not names & {"reference", "reference_disguised", "stubs"}
    for p in found.pairs:
        assert p.a.removeprefix("copy_of_") == p.b.removeprefix("copy_of_"), (p.a, p.b)


def test_identical_hand_ins_form_one_group(found: similarity.Found) -> None:
    assert found.same == [["twin_a", "twin_b"]]
    assert not any({"twin_a", "twin_b"} == {p.a, p.b} for p in found.pairs)


def test_pair_in_report_html_is_escaped(tmp_path: Path) -> None:
    """Does report.html show the pair side by side, the student's text escaped, and keep its
    no-script policy?"""
    hostile = sources("variant_loops")
    hostile["simple_attention"] = hostile["simple_attention"].replace(
        "    n = inputs.shape[0]\n",
        "    n = inputs.shape[0]  # </pre><script>alert(1)</script>\n",
        1,
    )
    similarity.write([("a&b", hostile), ("c", disguised("variant_loops"))], tmp_path)
    doc = similarity.load(tmp_path)
    assert doc is not None and [(p["a"], p["b"]) for p in doc["pairs"]] == [("a&b", "c")]
    page = "\n".join(report_html.similarity_section(doc))
    assert "<script" not in page.lower()
    assert "# &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-pair="a&amp;b c"' in page
    assert page.count('<table class="side">') == len(doc["pairs"][0]["exercises"])
    assert "<mark>" in page


def test_no_similar_pair_says_so() -> None:
    page = "\n".join(report_html.similarity_section({"threshold": 0.5, "same": [], "pairs": []}))
    assert "No two submissions are that similar." in page


@pytest.mark.slow
def test_autograde_shows_the_pair_in_report_html(tmp_path: Path) -> None:
    """A real run on the reference, the stubs, a variant and its disguised copy: report.html
    pairs the two and nobody else."""
    from tests.test_autograde_cli import autograde

    subs = tmp_path / "subs"
    for name, files in [
        ("ref", sources("reference")),
        ("stub", sources("stubs")),
        ("lee", sources("variant_loops")),
        ("max", disguised("variant_loops")),
    ]:
        for module, text in files.items():
            (subs / name / "exercises").mkdir(parents=True, exist_ok=True)
            (subs / name / "exercises" / f"{module}.py").write_text(text)
    out = tmp_path / "out"
    proc = autograde(subs, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pairs = json.loads((out / "similarity.json").read_text())["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [("lee", "max")]
    page = (out / "report.html").read_text()
    assert '<section id="similarity">' in page and 'data-pair="lee max"' in page
    shutil.rmtree(out)


def test_unreadable_code_is_left_out() -> None:
    """A module nested too deeply to parse, or not Python at all, has no regions and pairs with
    nobody, and the rest is compared as usual."""
    deep = "def attention_scores(query, inputs):\n    return " + "-" * 100_000 + "1\n"
    assert similarity.regions({"simple_attention": deep}) == []
    assert similarity.regions({"simple_attention": "def attention_scores(:\n"}) == []
    found = similarity.similar_pairs(
        [
            ("deep", {"simple_attention": deep}),
            ("lee", sources("variant_loops")),
            ("max", disguised("variant_loops")),
        ]
    )
    assert [(p.a, p.b) for p in found.pairs] == [("lee", "max")]
