"""Similar submissions: pairs of students whose own code matches, robust to renaming and
reformatting, as MOSS and copydetect find them (winnowed k-gram fingerprints).

Only the code students wrote is compared: the body of each exercise's function or class. Its
Python tokens are normalised (every name that is not an attribute or a keyword becomes `V`,
every string `S`; comments, blank lines and indentation dropped), so renaming variables and
reformatting change nothing. Fingerprints are the winnowed hashes of every K tokens in a row;
those of the stubs and of the reference are subtracted, so handing in the stubs or the reference
matches nobody. A pair is reported when the fingerprints they share are at least THRESHOLD of
the smaller student's and at least MIN_SHARED in number. Written to OUT/similarity.json for
report.html.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import keyword
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from learner import atomic, manifest, parse

from .. import ROOT

K = 12  # tokens per k-gram: shorter runs are common idioms (`x.sum(dim=-1, keepdim=True)`)
WINDOW = 4  # winnowing window: every match of K + WINDOW - 1 tokens is sure to be seen
THRESHOLD = 0.5  # share of the smaller student's own fingerprints found in the other's
MIN_SHARED = 6  # fewer shared fingerprints than this is a coincidence of a line or two
COMMON_OWNERS = 20  # a fingerprint in more distinct submissions than this (and than a tenth
# of them) is an idiom of the exercise, not a copy
FILE = "similarity.json"
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
SKIP |= {tokenize.ENCODING, tokenize.ENDMARKER}
STRINGS = {tokenize.STRING} | {
    getattr(tokenize, n)
    for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, n)
}


@dataclass(frozen=True)
class Region:
    """One exercise's code in one submission: the top-level def or class named after it."""

    exercise: str
    first_line: int  # in the module
    text: str


@dataclass
class Pair:
    a: str
    b: str
    score: float  # shared / the smaller side's fingerprints
    shared: int
    a_same: list[str] = field(default_factory=list)  # others whose own code is a's exactly
    b_same: list[str] = field(default_factory=list)
    # exercise -> (lines of a's region, lines of b's region) holding shared fingerprints
    lines: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    regions: dict[str, tuple[Region, Region]] = field(default_factory=dict)


def regions(sources: dict[str, str]) -> list[Region]:
    """Every exercise's def or class in `sources` (module -> text); a module that does not
    parse has none."""
    found = []
    wanted = {e.id: e.module for e in manifest.load()}
    for module, text in sources.items():
        try:
            tree = parse.parse(text, f"{module}.py")  # bounded: size, depth, parser failures
        except SyntaxError:
            continue
        lines = text.splitlines()
        for node in tree.body:
            is_def = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if is_def and wanted.get(node.name) == module and node.end_lineno:
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno]) + "\n"
                found.append(Region(node.name, node.lineno, body))
    return found


def tokens(text: str) -> list[tuple[str, int]]:
    """(normalised token, line in `text`), or [] where Python cannot tokenize it."""
    out: list[tuple[str, int]] = []
    previous = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in SKIP:
                continue
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                word = tok.string if previous == "." else "V"
            elif tok.type in STRINGS:
                word = "S"
            else:
                word = tok.string
            out.append((word, tok.start[0]))
            previous = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return out


def fingerprints(text: str) -> dict[int, set[int]]:
    """Winnowed fingerprints of `text`: hash -> the lines its k-gram spans."""
    toks = tokens(text)
    grams = []
    for i in range(len(toks) - K + 1):
        gram = " ".join(word for word, _ in toks[i : i + K]).encode()
        grams.append((int.from_bytes(hashlib.blake2b(gram, digest_size=8).digest(), "big"), i))
    chosen: dict[int, set[int]] = {}
    for start in range(max(1, len(grams) - WINDOW + 1)):
        window = grams[start : start + WINDOW]
        if not window:
            break
        h, i = min(window, key=lambda hi: (hi[0], -hi[1]))  # rightmost minimum, as winnowing
        chosen.setdefault(h, set()).update(line for _, line in toks[i : i + K])
    return chosen


def boilerplate() -> set[int]:
    """Fingerprints of the stubs and the reference: never a match."""
    common: set[int] = set()
    for folder in ("exercises", "solutions"):
        for module in manifest.modules():
            path = ROOT / folder / f"{module}.py"
            if path.is_file():
                for r in regions({module: path.read_text(encoding="utf-8")}):
                    common |= set(fingerprints(r.text))
    return common


@dataclass
class _Student:
    regions: dict[str, Region]
    prints: dict[tuple[str, int], set[int]]  # (exercise, hash) -> lines of its region


def _student(sources: dict[str, str], common: set[int]) -> _Student:
    mine = {r.exercise: r for r in regions(sources)}
    prints = {
        (r.exercise, h): lines
        for r in mine.values()
        for h, lines in fingerprints(r.text).items()
        if h not in common
    }
    return _Student(mine, prints)


@dataclass
class Found:
    """What similar_pairs found: groups with the very same own code, and similar pairs."""

    same: list[list[str]]  # each group sorted, groups by size
    pairs: list[Pair]


def similar_pairs(
    submissions: Iterable[tuple[str, dict[str, str]]],
    *,
    threshold: float = THRESHOLD,
    min_shared: int = MIN_SHARED,
) -> Found:
    """Students whose own code is the same (one group each), and pairs of groups above the
    threshold, most similar first. A fingerprint counts where both wrote it in the same
    exercise (the same idea in two places is not a copy)."""
    common = boilerplate()
    by_content: dict[str, _Student] = {}
    groups: dict[frozenset[tuple[str, int]], list[str]] = defaultdict(list)
    firsts: dict[frozenset[tuple[str, int]], _Student] = {}
    for name, sources in submissions:
        key = hashlib.sha256(json.dumps(sorted(sources.items())).encode()).hexdigest()
        if key not in by_content:
            by_content[key] = _student(sources, common)
        student = by_content[key]
        if len(student.prints) >= min_shared:  # the stubs, the reference: nothing of their own
            signature = frozenset(student.prints)
            groups[signature].append(name)
            firsts.setdefault(signature, student)
    members = {min(names): sorted(names) for names in groups.values()}
    students = {min(names): firsts[sig] for sig, names in groups.items()}
    owners: dict[tuple[str, int], list[str]] = defaultdict(list)
    for name, s in students.items():
        for key in s.prints:
            owners[key].append(name)
    idiom = max(COMMON_OWNERS, len(students) // 10)
    shared: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for key, names in owners.items():
        if len(names) <= idiom:
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    shared[(a, b) if a < b else (b, a)].append(key)
    pairs = []
    for (a, b), keys in shared.items():
        sa, sb = students[a], students[b]
        score = len(keys) / min(len(sa.prints), len(sb.prints))
        if len(keys) < min_shared or score < threshold:
            continue
        pair = Pair(a, b, round(score, 3), len(keys), members[a][1:], members[b][1:])
        for key in keys:
            ex = key[0]
            la, lb = pair.lines.setdefault(ex, ([], []))
            la.extend(sa.prints[key])
            lb.extend(sb.prints[key])
            pair.regions[ex] = (sa.regions[ex], sb.regions[ex])
        pair.lines = {ex: (sorted(set(la)), sorted(set(lb))) for ex, (la, lb) in pair.lines.items()}
        pairs.append(pair)
    same = sorted((m for m in members.values() if len(m) > 1), key=lambda m: (-len(m), m))
    return Found(same, sorted(pairs, key=lambda p: (-p.score, -p.shared, p.a, p.b)))


SHOWN_PAIRS = 25  # pairs whose code similarity.json keeps (report.html shows it side by side)


def write(submissions: Iterable[tuple[str, dict[str, str]]], out: Path) -> Found:
    """OUT/similarity.json: the groups with the same code, the pairs, and the first pairs'
    shared exercises' code on both sides."""
    found = similar_pairs(submissions)
    doc = {
        "threshold": THRESHOLD,
        "min_shared": MIN_SHARED,
        "same": found.same,
        "pairs": [
            {
                "a": p.a,
                "b": p.b,
                "a_same": p.a_same,
                "b_same": p.b_same,
                "score": p.score,
                "shared": p.shared,
                "exercises": {
                    ex: (
                        {
                            "a": {**asdict(ra), "matched": p.lines[ex][0]},
                            "b": {**asdict(rb), "matched": p.lines[ex][1]},
                        }
                        if n < SHOWN_PAIRS
                        else {}
                    )
                    for ex, (ra, rb) in p.regions.items()
                },
            }
            for n, p in enumerate(found.pairs)
        ],
    }
    atomic.write_text(Path(out) / FILE, json.dumps(doc, indent=1) + "\n")
    return found


def load(out: Path) -> dict | None:
    """OUT/similarity.json as written, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
