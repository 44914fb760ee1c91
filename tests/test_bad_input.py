"""Every kind of bad hand-in in one batch, end to end through `attention-kit autograde`.

One class folder holds three good students and every bad input at once; a second folder holds
the good students alone. A problem with a submission must come back as one line the student can
act on, in grades.json and in their feedback; a function that returns the wrong type or takes
one argument fewer must cost that exercise alone, with what came back and what was expected
under it; and the good students must be graded as if the others were not there.
Every bad submission is built here, in tmp_path, from the reference solutions; the good ones are
copies of the sample class (examples/submissions/).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT
from learner import manifest

pytestmark = pytest.mark.slow  # one real batch of bad entries

CLASS = ROOT / "examples" / "submissions"
SOLUTIONS = ROOT / "solutions"
RUN_TIMEOUT = 180  # seconds for one autograde run (it takes about 5)
SEED = 20261124
EXERCISES = manifest.load()
IDS = [e.id for e in EXERCISES]
MAX = {e.id: e.points for e in EXERCISES}
MODULES = manifest.modules()
GOOD = {"good_ada": "ada", "good_ben": "ben", "good_cyd": "cyd"}  # id -> sample-class student
TOKEN = uuid.uuid4().hex[:12]  # in the zip-slip payloads' names: a stray one cannot be mistaken

# ---- building submissions ----------------------------------------------------------------------

Files = dict[str, str | bytes]


def reference(edits: dict[str, list[tuple[str, str]]] | None = None) -> Files:
    """The reference modules as exercises/<module>.py, with (old, new) edits applied."""
    files: Files = {}
    for module in MODULES:
        text = (SOLUTIONS / f"{module}.py").read_text()
        for old, new in (edits or {}).get(module, []):
            assert old in text, f"edit target not in solutions/{module}.py: {old!r}"
            text = text.replace(old, new, 1)
        files[f"exercises/{module}.py"] = text
    return files


def write_folder(folder: Path, files: Files) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def write_zip(path: Path, files: Files) -> bytes:
    """A zip of `files`, member names exactly as given (absolute and '..' ones too)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return path.read_bytes()


def lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the uncompressed size of `member` in its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(member).header_offset
    struct.pack_into("<I", data, local + 22, declared)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


# ---- submission-level problems: one line each ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad submission: how to write it, the lines it must give, what must score 0."""

    write: Callable[[Path], None]  # writes the entry (or entries) into the submissions folder
    lines: tuple[str, ...]  # regexes: each matches at least one error line, whole; no line is extra
    zero: tuple[str, ...]  # modules or exercises scoring 0; every other exercise keeps full points


CASES: dict[str, Case] = {}


def case(student: str, *lines: str, zero: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    def register(write: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES[student] = Case(write, lines, zero)
        return write

    return register


EVERYTHING = tuple(MODULES)
SYNTAX_AT = "def softmax_naive(x: Tensor) -> Tensor:"  # loses its colon
SYNTAX_LINE = (SOLUTIONS / "simple_attention.py").read_text().splitlines().index(SYNTAX_AT) + 1


@case(
    "syntax",
    r"exercises/simple_attention\.py could not be imported: SyntaxError: .+ "
    rf"\(exercises/simple_attention\.py, line {SYNTAX_LINE}\)",
    zero=("simple_attention",),
)
def _syntax(subs: Path) -> None:
    write_folder(subs / "syntax", reference({"simple_attention": [(SYNTAX_AT, SYNTAX_AT[:-1])]}))


@case(
    "no_numpy",
    r"exercises/numpy_attention\.py is missing: softmax_rows, self_attention_numpy score 0",
    zero=("numpy_attention",),
)
def _missing_module(subs: Path) -> None:
    files = reference()
    del files["exercises/numpy_attention.py"]
    write_folder(subs / "no_numpy", files)


@case(
    "misnamed_module",
    r"exercises/simple_attention\.py is missing \(found exercises/Simple_Attention\.py: "
    r"it should be exercises/simple_attention\.py\): attention_scores, .*, "
    r"all_context_vectors score 0",
    zero=("simple_attention",),
)
def _misnamed_module(subs: Path) -> None:
    files = reference()
    files["exercises/Simple_Attention.py"] = files.pop("exercises/simple_attention.py")
    write_folder(subs / "misnamed_module", files)


@case(
    "misnamed_names",
    r"exercises/simple_attention\.py has no context_vector",
    r"exercises/trainable_attention\.py has no SelfAttention_v1",
    r"exercises/multihead_attention\.py has no MultiHeadAttention",
    # gpt2_small_attention builds the MultiHeadAttention that is not there
    zero=("context_vector", "SelfAttention_v1", "MultiHeadAttention", "gpt2_small_attention"),
)
def _misnamed_names(subs: Path) -> None:
    edits = {
        "simple_attention": [("def context_vector(", "def contextvector(")],  # misnamed
        "trainable_attention": [("class SelfAttention_v1(", "class SelfAttentionV1(")],
        "multihead_attention": [("class MultiHeadAttention(", "class _NotYet(")],  # missing
    }
    write_folder(subs / "misnamed_names", reference(edits))


@case(
    "latin1",
    r"exercises/numpy_attention\.py is not UTF-8 text \(byte 0xe0 at offset 10\): "
    r"save it as UTF-8; its exercises score 0",
    zero=("numpy_attention",),
)
def _latin1(subs: Path) -> None:
    files = reference()
    source = str(files["exercises/numpy_attention.py"])
    files["exercises/numpy_attention.py"] = (
        "# softmax à la main\n".encode("latin-1") + source.encode()
    )
    write_folder(subs / "latin1", files)


@case("empty", r"empty/ is empty: no files were found", zero=EVERYTHING)
def _empty(subs: Path) -> None:
    (subs / "empty").mkdir()


@case(
    "notebook",
    r"notebook\.ipynb is a notebook on its own: hand in a folder notebook/ or a notebook\.zip "
    r"holding the released notebooks \(simple_attention\.ipynb, \.\.\.\) with your answers",
    zero=EVERYTHING,
)
def _notebook(subs: Path) -> None:
    (subs / "notebook.ipynb").write_bytes(b"\x00 not JSON {")


@case(
    "notebook_inside",
    r"exercises/simple_attention\.ipynb is not a notebook \(not valid JSON: .*\): hand in the "
    r"\.ipynb file as Jupyter saved it; its exercises score 0",
    zero=("simple_attention",),
)
def _notebook_inside(subs: Path) -> None:
    files = reference()
    del files["exercises/simple_attention.py"]
    files["exercises/simple_attention.ipynb"] = "{ not JSON"
    write_folder(subs / "notebook_inside", files)


def released(module: str) -> dict[str, Any]:
    """The instructor notebook of `module` (the reference in its answer cells), as JSON."""
    from autograder.notebooks.build import source_notebook

    return source_notebook(module)


@case(
    "notebook_no_cell",
    r"exercises/simple_attention\.ipynb has no answer cell defining softmax_stable: "
    r"softmax_stable scores 0; copy its cell back from the released notebook and fill it in",
    zero=("softmax_stable",),
)
def _notebook_no_cell(subs: Path) -> None:
    from autograder.notebooks.build import dumps

    files = reference()
    del files["exercises/simple_attention.py"]
    nb = released("simple_attention")
    nb["cells"] = [c for c in nb["cells"] if c["id"] != "softmax_stable"]
    files["exercises/simple_attention.ipynb"] = dumps(nb)
    write_folder(subs / "notebook_no_cell", files)


@case(
    "notebook_not_one",
    r"numpy_attention\.ipynb is JSON but not a Jupyter notebook \(it has no list of cells\): "
    r"hand in the released notebook with your answers; its exercises score 0",
    zero=("numpy_attention",),
)
def _notebook_not_one(subs: Path) -> None:
    files = {f"{m}.py": t for m, t in ((k.split("/")[1][:-3], v) for k, v in reference().items())}
    del files["numpy_attention.py"]
    files["numpy_attention.ipynb"] = json.dumps({"cells": "none"})
    write_folder(subs / "notebook_not_one", files)


@case(
    "corrupt",
    r"corrupt\.zip is not a readable zip \(File is not a zip file\): nothing was graded",
    zero=EVERYTHING,
)
def _corrupt_zip(subs: Path) -> None:
    (subs / "corrupt.zip").write_bytes(b"PK\x03\x04" + bytes(range(200)))


@case(
    "truncated",
    r"truncated\.zip is not a readable zip \(File is not a zip file\): nothing was graded",
    zero=EVERYTHING,
)
def _truncated_zip(subs: Path) -> None:
    whole = write_zip(subs / "truncated.zip", reference())
    (subs / "truncated.zip").write_bytes(whole[: len(whole) // 2])


@case(
    "nested",
    r"nested archive homework\.zip was not opened: "
    r"put the \.py files themselves in the submission",
    r"exercises/\w+\.py is missing: .* score 0",  # each of the five modules
    zero=EVERYTHING,
)
def _nested_zip(subs: Path) -> None:
    inner = write_zip(subs / "nested.zip", reference())  # then overwritten by the outer zip
    write_zip(subs / "nested.zip", {"homework.zip": inner})


@case("bomb", r"bomb\.zip unpacks to 64\.0 MB \(limit 5 MB\): not read", zero=EVERYTHING)
def _zip_bomb(subs: Path) -> None:
    with zipfile.ZipFile(subs / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("exercises/simple_attention.py", "w", force_zip64=True) as f:
            for _ in range(64):  # 64 MB of '#', about 64 KB on disk
                f.write(b"#" * 2**20)
    assert (subs / "bomb.zip").stat().st_size < 1_000_000


@case(
    "liar",
    r"exercises/simple_attention\.py could not be read \(Bad CRC-32 for file "
    r"'exercises/simple_attention\.py'\): its exercises score 0",
    zero=("simple_attention",),
)
def _zip_lying_sizes(subs: Path) -> None:
    # 16 MB that the headers declare as 100 bytes
    write_zip(subs / "liar.zip", reference() | {"exercises/simple_attention.py": b"#" * 2**24})
    lie_about_size(subs / "liar.zip", "exercises/simple_attention.py", declared=100)
    assert (subs / "liar.zip").stat().st_size < 1_000_000


SLIP = (  # members that would land outside the submission if extracted
    f"/tmp/abs-{TOKEN}.py",
    f"../../../../../../../../tmp/up-{TOKEN}.py",
    f"../slip-{TOKEN}.py",
    f"exercises/../../slip2-{TOKEN}.py",
)


@case(
    "slip",
    r"slip\.zip: 4 entries with an absolute or '\.\.' path not read: '/tmp/abs-\w+\.py', .*",
)
def _zip_slip(subs: Path) -> None:
    write_zip(subs / "slip.zip", reference() | dict.fromkeys(SLIP, "print('escaped')\n"))


@case(
    "symlink",
    r"1 symlink pointing outside the submission not read: exercises/simple_attention\.py",
    r"exercises/simple_attention\.py is missing: .* score 0",
    zero=("simple_attention",),
)
def _symlink_to_solutions(subs: Path) -> None:
    files = reference()
    del files["exercises/simple_attention.py"]
    write_folder(subs / "symlink", files)
    link = subs / "symlink" / "exercises" / "simple_attention.py"
    link.symlink_to(SOLUTIONS / "simple_attention.py")


@case(
    "symlink_dir",
    r"1 symlink pointing outside the submission not read: exercises",
    zero=EVERYTHING,
)
def _symlinked_folder(subs: Path) -> None:
    (subs / "symlink_dir").mkdir()
    (subs / "symlink_dir" / "exercises").symlink_to(SOLUTIONS, target_is_directory=True)


@case(
    "alice",
    r"2 submissions for alice \(alice/ and alice\.zip\): none was graded; keep only one",
    zero=EVERYTHING,
)
def _duplicate_id(subs: Path) -> None:
    write_folder(subs / "alice", reference())
    write_zip(subs / "alice.zip", reference())


# ---- exercise-level problems: wrong return types and signatures ---------------------------------

# exercise -> (the solution's line, the wrong one, what its feedback must say). No other exercise
# calls these, so no other exercise may lose a point.
WRONG_TYPES = {
    "attention_scores": (
        "return inputs @ query  # (n,)",
        "return (inputs @ query).tolist()",
        "expected a torch.Tensor, got list",
    ),
    "normalize_by_sum": (
        "return scores / scores.sum(dim=-1, keepdim=True)",
        'return "normalised"',
        "expected a torch.Tensor, got str",
    ),
    "softmax_naive": (
        "return e / e.sum(dim=-1, keepdim=True)",
        "e / e.sum(dim=-1, keepdim=True)  # no return: None",
        "expected a torch.Tensor, got None",
    ),
    "context_vector": (
        "return attn_weights @ inputs  # (d,)",
        "return (attn_weights @ inputs).numpy()",
        "expected a torch.Tensor, got numpy.ndarray",
    ),
    "self_attention_numpy": (
        "return weights @ V, weights",
        # (not torch tensors: torch is off-limits in the numpy exercises, which would say so)
        "return (weights @ V).tolist(), weights.tolist()",
        "expected a numpy.ndarray, got list",
    ),
}
# One argument fewer, in a function and in a class: the checks that pass it lose their points.
WRONG_SIGNATURES = {
    "softmax_stable": (
        "def softmax_stable(x: Tensor, dim: int = -1) -> Tensor:",
        "def softmax_stable(x: Tensor) -> Tensor:\n    dim = -1",
        "your code raised TypeError: softmax_stable() got an unexpected keyword argument 'dim'",
    ),
    "SelfAttention_v2": (
        "def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:",
        "def __init__(self, d_in: int, d_out: int) -> None:\n        qkv_bias = False",
        "your code raised TypeError: SelfAttention_v2.__init__() got an unexpected keyword "
        "argument 'qkv_bias'",
    ),
}


def with_wrong(table: dict[str, tuple[str, str, str]]) -> Files:
    edits: dict[str, list[tuple[str, str]]] = {}
    for exercise, (old, new, _) in table.items():
        edits.setdefault(manifest.by_id()[exercise].module, []).append((old, new))
    return reference(edits)


# ---- the runs ----------------------------------------------------------------------------------


def autograde(subs: Path, out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "autograder.cli", "autograde", "--quiet"]
    cmd += ["--submissions", str(subs), "--out", str(out), "--seed", str(SEED)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=ROOT)


def listing(root: Path) -> dict[str, int]:
    """Every path under `root` (symlinks not followed) -> its size."""
    return {str(p.relative_to(root)): p.lstat().st_size for p in root.rglob("*")}


@dataclass
class Batch:
    tmp: Path
    subs: Path
    out: Path
    stdout: str
    before: dict[str, int]  # listing of tmp before the run

    def grades(self) -> dict[str, Any]:
        return json.loads((self.out / "grades.json").read_text())["students"]

    def feedback(self, student: str) -> str:
        return (self.out / "feedback" / f"{student}.md").read_text()


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    tmp = tmp_path_factory.mktemp("bad")
    subs = tmp / "submissions"
    subs.mkdir()
    for c in CASES.values():
        c.write(subs)
    write_folder(subs / "wrong_types", with_wrong(WRONG_TYPES))
    write_folder(subs / "wrong_signatures", with_wrong(WRONG_SIGNATURES))
    for student, sample in GOOD.items():
        shutil.copytree(CLASS / sample, subs / student)
    before = listing(tmp)
    proc = autograde(subs, tmp / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Batch(tmp, subs, tmp / "out", proc.stdout, before)


@pytest.fixture(scope="module")
def good_alone(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    tmp = tmp_path_factory.mktemp("good")
    subs = tmp / "submissions"
    for student, sample in GOOD.items():
        shutil.copytree(CLASS / sample, subs / student)
    proc = autograde(subs, tmp / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Batch(tmp, subs, tmp / "out", proc.stdout, {})


def section(feedback: str, exercise: str) -> str:
    """The feedback's "What to work on" section of one exercise ("" if it has none)."""
    start = feedback.find(f"### `{exercise}`:")
    if start < 0:
        return ""
    end = feedback.find("\n## ", start)
    following = feedback.find("\n### ", start + 1)
    ends = [e for e in (end, following) if e >= 0]
    return feedback[start : min(ends)] if ends else feedback[start:]


def zeroed(names: tuple[str, ...]) -> set[str]:
    """Exercise ids named directly or through their module."""
    return {e.id for e in EXERCISES if e.id in names or e.module in names}


# ---- the tests ---------------------------------------------------------------------------------


def test_every_entry_is_graded_as_a_student(bad_batch: Batch) -> None:
    """Does every entry, however broken, get a row, and nothing else get one?"""
    expected = {*CASES, "wrong_types", "wrong_signatures", *GOOD}
    assert set(bad_batch.grades()) == expected
    assert f"{len(expected)} submissions: {len(expected)} graded, 0 unchanged" in bad_batch.stdout
    for folder, suffixes in (("results", (".json",)), ("feedback", (".md", ".html"))):
        assert {p.name for p in (bad_batch.out / folder).iterdir()} == {
            s + suffix for s in expected for suffix in suffixes
        }


@pytest.mark.parametrize("student", sorted(CASES))
def test_problem_is_one_line_in_grades_and_feedback(bad_batch: Batch, student: str) -> None:
    """Is the problem one line in grades.json, the same line in the student's feedback, and does
    it cost exactly the exercises it names?"""
    c = CASES[student]
    got = bad_batch.grades()[student]
    errors: list[str] = got["errors"]
    assert errors, f"{student}: no problem reported"
    for line in errors:
        assert "\n" not in line and line.strip() == line, line
        assert any(re.fullmatch(p, line) for p in c.lines), f"unexpected line: {line}"
    for pattern in c.lines:
        assert any(re.fullmatch(pattern, line) for line in errors), (pattern, errors)
    feedback = bad_batch.feedback(student)
    for line in errors:
        assert line in feedback.splitlines(), line
    zero = zeroed(c.zero)
    expected = {e: 0 if e in zero else MAX[e] for e in IDS}
    assert got["points"] == expected


@pytest.mark.parametrize("exercise", list(WRONG_TYPES))
def test_wrong_return_type_costs_that_exercise_only(bad_batch: Batch, exercise: str) -> None:
    """Does a list, a str, None, numpy for torch or lists for numpy cost that exercise alone, with
    what came back and what was expected under it in the feedback?"""
    got = bad_batch.grades()["wrong_types"]
    assert got["errors"] == []  # the file imports and has every name: nothing wrong overall
    assert got["points"] == {e: 0 if e in WRONG_TYPES else MAX[e] for e in IDS}
    said = WRONG_TYPES[exercise][2]
    text = section(bad_batch.feedback("wrong_types"), exercise)
    assert said in text, text


@pytest.mark.parametrize("exercise", list(WRONG_SIGNATURES))
def test_missing_argument_costs_that_exercise_only(bad_batch: Batch, exercise: str) -> None:
    """Does a function or class taking one argument fewer lose only the checks of that exercise
    that pass the argument, with Python's own complaint under it in the feedback?"""
    got = bad_batch.grades()["wrong_signatures"]
    assert got["errors"] == []
    for e in IDS:
        if e in WRONG_SIGNATURES:
            assert 0 < got["points"][e] < MAX[e], (e, got["points"][e])
        else:
            assert got["points"][e] == MAX[e], e
    text = section(bad_batch.feedback("wrong_signatures"), exercise)
    assert WRONG_SIGNATURES[exercise][2] in text, text


@pytest.mark.parametrize("student", list(GOOD))
def test_good_students_are_graded_as_when_alone(
    bad_batch: Batch, good_alone: Batch, student: str
) -> None:
    """Is a good student graded exactly as in a batch of good students only?"""
    assert bad_batch.grades()[student] == good_alone.grades()[student]

    def results(b: Batch) -> dict[str, Any]:
        doc = json.loads((b.out / "results" / f"{student}.json").read_text())
        del doc["execution_time"]
        return doc

    assert results(bad_batch) == results(good_alone)

    def feedback(b: Batch) -> str:  # the same but for when it was graded
        return re.sub(r" \(graded [^)]*\)", "", b.feedback(student))

    assert feedback(bad_batch) == feedback(good_alone)


def test_nothing_is_written_outside_out(bad_batch: Batch) -> None:
    """Does the run leave the submissions and everything beside OUT as they were, extracting no
    zip entry anywhere (absolute and '..' paths included)?"""
    after = listing(bad_batch.tmp)
    outside = {p: s for p, s in after.items() if not p.startswith("out")}
    assert outside == bad_batch.before
    for where in (Path("/tmp"), ROOT, ROOT.parent, bad_batch.tmp, bad_batch.tmp.parent):
        assert not list(where.glob(f"*{TOKEN}*")), where
    assert {p.name for p in bad_batch.out.iterdir()} <= {
        "gradebook.sqlite",
        "gradebook.sqlite-wal",
        "gradebook.sqlite-shm",
        "grades.json",
        "grades.csv",
        "results",
        "feedback",
        "report.html",
        "similarity.json",
        "charts",
    }
