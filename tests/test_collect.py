"""collect: every layout a class hands in, and one clear line for every way it can go wrong.

All submissions are built in tmp_path by the tests themselves; every batch also holds a clean
submission (`bob`) to show that one student's problem never stops the others being collected.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from autograder import ROOT
from autograder.grading import collect as collect_mod
from autograder.grading.collect import MAX_SOURCE_BYTES, SAFE_ID, collect
from autograder.grading.model import Submission
from autograder.notebooks import write_source
from learner import manifest

MODULES = manifest.modules()


def sources(prefix: str = "exercises/") -> dict[str, bytes]:
    """A complete hand-in: one small module file per manifest module."""
    return {f"{prefix}{m}.py": f"# {m}\nVALUE = {i}\n".encode() for i, m in enumerate(MODULES)}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def batch(tmp_path: Path) -> Path:
    """A submissions folder that already holds a clean submission, bob/."""
    subs = tmp_path / "submissions"
    write_folder(subs / "bob", sources())
    return subs


def by_student(subs: list[Submission]) -> dict[str, Submission]:
    return {s.student: s for s in subs}


def assert_clean(sub: Submission) -> None:
    assert sub.errors == []
    assert sorted(sub.sources) == sorted(MODULES)


def one_line(sub: Submission) -> str:
    """The single error of `sub`, checked to be one line."""
    assert len(sub.errors) == 1, sub.errors
    assert "\n" not in sub.errors[0]
    return sub.errors[0]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ---- layouts ---------------------------------------------------------------------------------


def test_every_layout_is_read(tmp_path: Path) -> None:
    """Are folders and zips read in the release layout, flat, and under one wrapping folder?"""
    subs = batch(tmp_path)
    write_folder(subs / "alice", sources(""))
    write_zip(subs / "carol.zip", sources())
    write_zip(subs / "dave.zip", sources("dave-hw3/exercises/"))
    write_zip(subs / "erin.zip", sources("my files/"))
    write_folder(subs / "fay", sources("attention-kit/exercises/"))
    got = collect(subs)
    assert [s.student for s in got] == ["alice", "bob", "carol", "dave", "erin", "fay"]
    for sub in got:
        assert_clean(sub)
        assert sub.sources["causal_attention"] == "# causal_attention\nVALUE = 3\n"


def test_same_files_same_digest(tmp_path: Path) -> None:
    """Does the digest depend on the content only, and change when a file or an error changes?"""
    subs = batch(tmp_path)
    write_zip(subs / "carol.zip", sources("carol/"))
    first = by_student(collect(subs))
    assert first["bob"].digest == first["carol"].digest
    assert len(first["bob"].digest) == 64

    (subs / "bob" / "exercises" / "numpy_attention.py").write_text("# changed\n")
    assert by_student(collect(subs))["bob"].digest != first["bob"].digest

    (subs / "bob" / "exercises" / "numpy_attention.py").unlink()
    missing = by_student(collect(subs))["bob"]
    (subs / "bob" / "exercises" / "numpy_attention.py").write_text("# changed\n")
    fixed = by_student(collect(subs))["bob"]
    assert missing.digest != fixed.digest


def test_bom_is_dropped(tmp_path: Path) -> None:
    """Is a file saved 'UTF-8 with BOM' (Windows Notepad) read as plain source?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/simple_attention.py"] = b"\xef\xbb\xbfx = 1\n"
    write_folder(subs / "alice", files)
    alice = by_student(collect(subs))["alice"]
    assert alice.errors == []
    assert alice.sources["simple_attention"] == "x = 1\n"


def test_missing_submissions_folder(tmp_path: Path) -> None:
    """Does a wrong --submissions path stop the run with the path in the message?"""
    with pytest.raises(NotADirectoryError, match="nowhere"):
        collect(tmp_path / "nowhere")


# ---- missing and misnamed modules ------------------------------------------------------------


def test_missing_module_names_its_exercises(tmp_path: Path) -> None:
    """Does a missing module get one line naming the exercises that will score 0?"""
    subs = batch(tmp_path)
    files = sources()
    del files["exercises/causal_attention.py"]
    write_folder(subs / "alice", files)
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "exercises/causal_attention.py is missing: causal_mask, mask_and_renormalize, "
        "causal_attention_weights, CausalAttention score 0"
    )
    assert sorted(got["alice"].sources) == sorted(set(MODULES) - {"causal_attention"})
    assert_clean(got["bob"])


@pytest.mark.parametrize(
    "wrong_name",
    [
        "simple_attention (1).py",  # a browser's second download
        "Simple_Attention.py",  # case
        "simple-attention.py",  # hyphen
        "simple_atention.py",  # typo
    ],
)
def test_misnamed_module_says_expected_name(tmp_path: Path, wrong_name: str) -> None:
    """Does a misnamed module get one line with the name it should have?"""
    subs = batch(tmp_path)
    files = sources()
    files[f"exercises/{wrong_name}"] = files.pop("exercises/simple_attention.py")
    write_folder(subs / "alice", files)
    got = by_student(collect(subs))
    line = one_line(got["alice"])
    assert line.startswith(
        f"exercises/simple_attention.py is missing (found exercises/{wrong_name}: "
        "it should be exercises/simple_attention.py): attention_scores, "
    )
    assert line.endswith("all_context_vectors score 0")
    assert_clean(got["bob"])


def released_notebooks() -> dict[str, bytes]:
    """The instructor notebooks (the reference in the answer cells), by file name."""
    folder = Path(tempfile.mkdtemp())
    try:
        return {p.name: p.read_bytes() for p in write_source(folder)}
    finally:
        shutil.rmtree(folder)


def test_notebooks_are_read_in_every_layout(tmp_path: Path) -> None:
    """Are the released notebooks read as their modules, in a folder, under nbgrader's
    attention/ folder, in a zip and mixed with .py files, the answer cells becoming the source?"""
    subs = batch(tmp_path)
    notebooks = released_notebooks()
    write_folder(subs / "alice", notebooks)
    write_folder(subs / "dan", {f"attention/{n}": d for n, d in notebooks.items()})
    write_zip(subs / "carol.zip", {f"exercises/{n}": d for n, d in notebooks.items()})
    mixed = sources("")
    del mixed["simple_attention.py"]
    mixed["simple_attention.ipynb"] = notebooks["simple_attention.ipynb"]
    write_folder(subs / "erin", mixed)
    got = by_student(collect(subs))
    for student in ("alice", "carol", "dan", "erin"):
        assert_clean(got[student])
    for module in MODULES:
        assert f"def {manifest.load()[0].id}" not in got["bob"].sources[module]
        for e in manifest.load():
            if e.module == module:
                assert f" {e.id}(" in got["alice"].sources[module]
    assert "def attention_scores(" in got["erin"].sources["simple_attention"]
    assert got["erin"].sources["numpy_attention"] == mixed["numpy_attention.py"].decode()
    assert got["alice"].sources == got["carol"].sources == got["dan"].sources
    assert_clean(got["bob"])


def test_broken_notebook_is_one_line_and_the_rest_is_graded(tmp_path: Path) -> None:
    """Does a notebook that is not JSON cost its module only, in one line, the .py modules beside
    it still read, and a lone notebook say what to hand in?"""
    subs = batch(tmp_path)
    files = sources()
    del files["exercises/simple_attention.py"]
    files["exercises/simple_attention.ipynb"] = b"{ not JSON"
    write_folder(subs / "alice", files)
    (subs / "carol.ipynb").write_text("{}")
    got = by_student(collect(subs))
    line = one_line(got["alice"])
    assert line.startswith("exercises/simple_attention.ipynb is not a notebook (not valid JSON: ")
    assert line.endswith("hand in the .ipynb file as Jupyter saved it; its exercises score 0")
    assert sorted(got["alice"].sources) == sorted(m for m in MODULES if m != "simple_attention")
    assert one_line(got["carol"]) == (
        "carol.ipynb is a notebook on its own: hand in a folder carol/ or a carol.zip holding "
        "the released notebooks (simple_attention.ipynb, ...) with your answers"
    )
    assert_clean(got["bob"])


def test_notebook_beside_its_module_is_flagged(tmp_path: Path) -> None:
    """With both simple_attention.py and .ipynb handed in, is the .py read and the notebook named
    as not graded?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/simple_attention.ipynb"] = released_notebooks()["simple_attention.ipynb"]
    write_folder(subs / "alice", files)
    alice = by_student(collect(subs))["alice"]
    assert one_line(alice) == (
        "exercises/simple_attention.ipynb not graded: "
        "only exercises/simple_attention.py is read for simple_attention"
    )
    assert alice.sources["simple_attention"] == files["exercises/simple_attention.py"].decode()


def test_misnamed_notebook_says_its_name(tmp_path: Path) -> None:
    """Is a notebook saved under another name pointed to the name it should have?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/Simple_Attention (1).ipynb"] = files.pop("exercises/simple_attention.py")
    write_folder(subs / "alice", files)
    assert one_line(by_student(collect(subs))["alice"]).startswith(
        "exercises/simple_attention.py is missing (found exercises/Simple_Attention (1).ipynb: "
        "it should be exercises/simple_attention.ipynb): attention_scores, "
    )


def test_copy_next_to_module_is_flagged(tmp_path: Path) -> None:
    """Is a stray copy next to the real module reported as not graded, the module still read?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/simple_attention (1).py"] = b"# newer work?\n"
    write_folder(subs / "alice", files)
    alice = by_student(collect(subs))["alice"]
    assert one_line(alice) == (
        "exercises/simple_attention (1).py not graded: "
        "only exercises/simple_attention.py is read for simple_attention"
    )
    assert sorted(alice.sources) == sorted(MODULES)


def test_unrelated_files_are_ignored(tmp_path: Path) -> None:
    """Are a README, the kit's tests and notes ignored without any error?"""
    subs = batch(tmp_path)
    files = sources()
    files |= {"README.md": b"# hw", "tests/test_simple_attention.py": b"", "notes.txt": b"x"}
    write_folder(subs / "alice", files)
    assert_clean(by_student(collect(subs))["alice"])


# ---- bad content -----------------------------------------------------------------------------


def test_non_utf8_module_gives_offset(tmp_path: Path) -> None:
    """Does a Latin-1 file get one line with the bad byte and its offset?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/numpy_attention.py"] = "# café\n".encode("latin-1")
    write_folder(subs / "alice", files)
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "exercises/numpy_attention.py is not UTF-8 text (byte 0xe9 at offset 5): "
        "save it as UTF-8; its exercises score 0"
    )
    assert "numpy_attention" not in got["alice"].sources
    assert_clean(got["bob"])


def test_oversized_module_is_not_read(tmp_path: Path) -> None:
    """Is a module over the size cap refused with one line, the other modules read?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/simple_attention.py"] = b"#" * (MAX_SOURCE_BYTES + 1)
    write_folder(subs / "alice", files)
    write_zip(subs / "carol.zip", files)
    got = by_student(collect(subs))
    for student in ("alice", "carol"):
        assert one_line(got[student]) == (
            "exercises/simple_attention.py is over 256 KB: not read, its exercises score 0"
        )
        assert len(got[student].sources) == len(MODULES) - 1
    assert_clean(got["bob"])


def test_fifo_is_not_read(tmp_path: Path) -> None:
    """Does a named pipe where a module should be give an error instead of hanging the batch?"""
    subs = batch(tmp_path)
    files = sources()
    del files["exercises/simple_attention.py"]
    write_folder(subs / "alice", files)
    os.mkfifo(subs / "alice" / "exercises" / "simple_attention.py")
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "exercises/simple_attention.py could not be read (not a regular file): "
        "its exercises score 0"
    )
    assert_clean(got["bob"])


def test_empty_submissions(tmp_path: Path) -> None:
    """Do an empty folder and an empty zip each get one line, junk files not counting?"""
    subs = batch(tmp_path)
    write_folder(subs / "alice", {".DS_Store": b"\0\0", "__pycache__/x.pyc": b"\0"})
    write_zip(subs / "carol.zip", {})
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == "alice/ is empty: no files were found"
    assert one_line(got["carol"]) == "carol.zip is empty: no files were found"
    assert_clean(got["bob"])


def test_hidden_and_os_junk_ignored(tmp_path: Path) -> None:
    """Are .DS_Store, __MACOSX, __pycache__ and dot-folders ignored in folders and zips?"""
    subs = batch(tmp_path)
    junk = {
        ".DS_Store": b"\0",
        "__MACOSX/exercises/._simple_attention.py": b"\0\x05\x16\x07",
        "exercises/__pycache__/simple_attention.cpython-311.pyc": b"\0",
        ".git/config": b"[core]",
        "exercises/.ipynb_checkpoints/simple_attention-checkpoint.py": b"",
    }
    write_folder(subs / "alice", sources() | junk)
    write_zip(subs / "carol.zip", sources() | junk)
    write_folder(subs / ".hidden_student", sources())
    got = collect(subs)
    assert [s.student for s in got] == ["alice", "bob", "carol"]
    for sub in got:
        assert_clean(sub)


def test_loose_file_at_top(tmp_path: Path) -> None:
    """Is a loose carol.py at the top reported for carol, and a roster ignored?"""
    subs = batch(tmp_path)
    (subs / "carol.py").write_text("x = 1\n")
    (subs / "roster.csv").write_text("alice,bob\n")
    got = by_student(collect(subs))
    assert sorted(got) == ["bob", "carol"]
    assert one_line(got["carol"]) == (
        "carol.py is not a submission: hand in a folder carol/ or a carol.zip "
        "holding exercises/<module>.py"
    )
    assert got["carol"].sources == {}


# ---- zips ------------------------------------------------------------------------------------


def test_corrupt_zip(tmp_path: Path) -> None:
    """Does a zip that is not a zip get one line, the batch going on?"""
    subs = batch(tmp_path)
    (subs / "alice.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "alice.zip is not a readable zip (File is not a zip file): nothing was graded"
    )
    assert_clean(got["bob"])


def test_zip_with_unsafe_paths(tmp_path: Path) -> None:
    """Does a zip with a `..` or absolute entry get a clear error and no file written?"""
    subs = batch(tmp_path)
    files = sources() | {"../evil.py": b"import os", "/tmp/abs_evil.py": b"import os"}
    write_zip(subs / "alice.zip", files)
    before = tree(tmp_path)
    got = by_student(collect(subs))
    assert tree(tmp_path) == before
    assert one_line(got["alice"]) == (
        "alice.zip: 2 entries with an absolute or '..' path not read: "
        "'../evil.py', '/tmp/abs_evil.py'"
    )
    assert sorted(got["alice"].sources) == sorted(MODULES)
    assert all("import os" not in s for s in got["alice"].sources.values())
    assert_clean(got["bob"])


def test_zip_symlink_member_is_not_followed(tmp_path: Path) -> None:
    """Is a symlink stored in a zip reported and never read as the module?"""
    subs = batch(tmp_path)
    files = sources()
    del files["exercises/simple_attention.py"]
    with zipfile.ZipFile(subs / "alice.zip", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("exercises/simple_attention.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    got = by_student(collect(subs))
    assert got["alice"].errors[0] == "alice.zip: 1 symlink not read: exercises/simple_attention.py"
    assert got["alice"].errors[1].startswith("exercises/simple_attention.py is missing: ")
    assert "simple_attention" not in got["alice"].sources
    assert_clean(got["bob"])


def test_zip_bomb_declared_size(tmp_path: Path) -> None:
    """Is a zip that declares more than the uncompressed cap refused before any member is read?"""
    subs = batch(tmp_path)
    zeros = b"\0" * (1024 * 1024)  # compresses to about 1 KB
    write_zip(subs / "alice.zip", sources() | {f"pad{i}.bin": zeros for i in range(6)})
    assert (subs / "alice.zip").stat().st_size < 100_000
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == "alice.zip unpacks to 6.0 MB (limit 5 MB): not read"
    assert got["alice"].sources == {}
    assert_clean(got["bob"])


def test_zip_bomb_lying_sizes(tmp_path: Path) -> None:
    """Does a member whose header understates its size give an error, not a big read?"""
    subs = batch(tmp_path)
    path = write_zip(
        subs / "alice.zip", sources() | {"exercises/simple_attention.py": big_source()}
    )
    lie_about_size(path, "exercises/simple_attention.py", declared=100)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("exercises/simple_attention.py").file_size == 100
    got = by_student(collect(subs))
    line = one_line(got["alice"])
    assert line.startswith("exercises/simple_attention.py could not be read (Bad CRC-32")
    assert line.endswith("its exercises score 0")
    assert_clean(got["bob"])


def big_source() -> bytes:
    return b"#" * (2 * MAX_SOURCE_BYTES)


def lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the uncompressed size of `member` in both its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(member).header_offset
    struct.pack_into("<I", data, local + 22, declared)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, central + 24, declared)  # central: uncompressed size
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_zip_too_big_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is a zip file larger than the cap refused without opening it?"""
    monkeypatch.setattr(collect_mod, "MAX_ZIP_BYTES", 2**20)
    subs = batch(tmp_path)
    (subs / "alice.zip").write_bytes(os.urandom(2**20 + 1))
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == "alice.zip is over 1 MB: not read"
    assert_clean(got["bob"])


def test_zip_with_too_many_members(tmp_path: Path) -> None:
    """Is a zip with more entries than the cap refused with one line?"""
    subs = batch(tmp_path)
    many = {f"junk/{i}.txt": b"" for i in range(collect_mod.MAX_ZIP_MEMBERS + 1)}
    write_zip(subs / "alice.zip", sources() | many)
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == "alice.zip holds 506 entries (limit 500): not read"
    assert_clean(got["bob"])


def test_nested_zip_is_not_opened(tmp_path: Path) -> None:
    """Is a zip inside a submission reported, not extracted?"""
    subs = batch(tmp_path)
    inner = write_zip(tmp_path / "inner.zip", sources())
    write_zip(subs / "alice.zip", {"homework.zip": inner.read_bytes()})
    write_folder(subs / "carol", {"exercises.zip": inner.read_bytes()})
    got = by_student(collect(subs))
    for student, name in (("alice", "homework.zip"), ("carol", "exercises.zip")):
        errors = got[student].errors
        assert errors[0] == (
            f"nested archive {name} was not opened: put the .py files themselves in the submission"
        )
        assert len(errors) == 1 + len(MODULES)  # and every module is missing
        assert got[student].sources == {}
    assert_clean(got["bob"])


def test_windows_backslash_paths(tmp_path: Path) -> None:
    """Are zip entries written with backslashes (old Windows tools) read as folders?"""
    subs = batch(tmp_path)
    write_zip(subs / "alice.zip", {k.replace("/", "\\"): v for k, v in sources().items()})
    assert_clean(by_student(collect(subs))["alice"])


# ---- symlinks ------------------------------------------------------------------------------


def test_symlink_outside_submission_is_refused(tmp_path: Path) -> None:
    """Is a module symlinked to a file outside the submission refused, one inside it read?"""
    subs = batch(tmp_path)
    secret = tmp_path / "instructor_solution.py"
    secret.write_text("SECRET = 1\n")
    files = sources()
    del files["exercises/simple_attention.py"]
    write_folder(subs / "alice", files)
    (subs / "alice" / "exercises" / "simple_attention.py").symlink_to(secret)
    write_folder(subs / "carol", files | {"work/simple.py": b"INSIDE = 1\n"})
    (subs / "carol" / "exercises" / "simple_attention.py").symlink_to("../work/simple.py")
    got = by_student(collect(subs))
    assert got["alice"].errors[0] == (
        "1 symlink pointing outside the submission not read: exercises/simple_attention.py"
    )
    assert got["alice"].errors[1].startswith("exercises/simple_attention.py is missing: ")
    assert all("SECRET" not in s for s in got["alice"].sources.values())
    assert got["carol"].sources["simple_attention"] == "INSIDE = 1\n"
    assert_clean(got["bob"])


def test_symlinked_folder_outside_is_refused(tmp_path: Path) -> None:
    """Is an exercises/ folder symlinked to elsewhere refused rather than walked?"""
    subs = batch(tmp_path)
    elsewhere = write_folder(tmp_path / "elsewhere", sources(""))
    (subs / "alice").mkdir()
    (subs / "alice" / "exercises").symlink_to(elsewhere, target_is_directory=True)
    got = by_student(collect(subs))
    assert got["alice"].errors == ["1 symlink pointing outside the submission not read: exercises"]
    assert got["alice"].sources == {}
    assert_clean(got["bob"])


def test_top_level_symlink_is_refused(tmp_path: Path) -> None:
    """Is a submission entry that is itself a symlink refused?"""
    subs = batch(tmp_path)
    (subs / "alice").symlink_to(subs / "bob", target_is_directory=True)
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "alice is a symlink; submissions are read only from real files: not read"
    )
    assert got["alice"].sources == {}
    assert_clean(got["bob"])


# ---- student ids -----------------------------------------------------------------------------


def test_duplicate_ids_grade_neither(tmp_path: Path) -> None:
    """Do alice/ and alice.zip (or Alice.zip) give one entry with an error and nothing graded?"""
    subs = batch(tmp_path)
    write_folder(subs / "alice", sources())
    write_zip(subs / "alice.zip", sources())
    write_zip(subs / "Carol.zip", sources())
    write_folder(subs / "carol", sources())
    first = collect(subs)
    assert [s.student for s in first] == ["Carol", "alice", "bob"]
    got = by_student(first)
    assert one_line(got["alice"]) == (
        "2 submissions for alice (alice/ and alice.zip): none was graded; keep only one"
    )
    assert one_line(got["Carol"]) == (
        "2 submissions for Carol (Carol.zip and carol/): none was graded; keep only one"
    )
    assert got["alice"].sources == {} and got["Carol"].sources == {}
    assert [(s.student, s.errors, s.digest) for s in collect(subs)] == [
        (s.student, s.errors, s.digest) for s in first
    ]
    assert_clean(got["bob"])


@pytest.mark.parametrize("name", ["bad name!", "José", "a;rm -rf", "x" * 101])
def test_unsafe_id_is_sanitized(tmp_path: Path, name: str) -> None:
    """Does a folder name outside the safe charset get a sanitized id and one line saying so?"""
    subs = batch(tmp_path)
    write_zip(subs / f"{name}.zip", sources())
    got = [s for s in collect(subs) if s.student != "bob"]
    assert len(got) == 1
    sub = got[0]
    assert SAFE_ID.fullmatch(sub.student) and len(sub.student) <= 100
    line = one_line(sub)
    assert line.startswith(f"student id {name[:60]!r} may only use letters, digits and . _ - @")
    assert line.endswith(f"graded as {sub.student!r}")
    assert sorted(sub.sources) == sorted(MODULES)


def test_safe_ids_are_kept(tmp_path: Path) -> None:
    """Are e-mail-like and dotted ids kept exactly as given?"""
    subs = batch(tmp_path)
    write_folder(subs / "ann.lee@uni.edu", sources())
    write_zip(subs / "s-12_3.zip", sources())
    got = by_student(collect(subs))
    assert sorted(got) == ["ann.lee@uni.edu", "bob", "s-12_3"]
    for sub in got.values():
        assert_clean(sub)


# ---- crashers: what the grader's own parsers must survive -----------------------------------

DEEP = "X = " + "-" * 100_000 + "1\n"  # exhausts the parser's stack (MemoryError)
DEEP_TREE = "X = " + "-" * 900 + "1\n"  # parses, but a recursive visitor hits RecursionError


def answered(module: str = "numpy_attention") -> dict[str, Any]:
    """The instructor notebook of `module` (reference answers) as a JSON document."""
    return json.loads(released_notebooks()[f"{module}.ipynb"])


def with_notebook(nb: dict[str, Any] | bytes, module: str = "numpy_attention") -> dict[str, bytes]:
    files = sources()
    del files[f"exercises/{module}.py"]
    raw = nb if isinstance(nb, bytes) else json.dumps(nb).encode()
    files[f"exercises/{module}.ipynb"] = raw
    return files


def answer_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]


@pytest.mark.parametrize("source", [DEEP, DEEP_TREE], ids=["100000-deep", "900-deep"])
def test_deeply_nested_module_is_one_line(tmp_path: Path, source: str) -> None:
    """Is a module nested too deeply for the grader's parser, or for its recursive scans, refused
    in one line (its exercises score 0), the other modules and students read as usual?"""
    subs = batch(tmp_path)
    files = sources()
    files["exercises/numpy_attention.py"] = (
        (ROOT / "solutions" / "numpy_attention.py").read_bytes() + b"\n" + source.encode()
    )
    write_folder(subs / "alice", files)
    got = by_student(collect(subs))
    line = one_line(got["alice"])
    assert line.startswith("exercises/numpy_attention.py cannot be graded: an expression or ")
    assert "nested too deeply" in line and line.endswith("its exercises score 0")
    assert sorted(got["alice"].sources) == sorted(m for m in MODULES if m != "numpy_attention")
    assert_clean(got["bob"])


def test_deeply_nested_notebook_json_is_one_line(tmp_path: Path) -> None:
    """Is a notebook whose JSON is nested 100,000 deep one line, not a RecursionError?"""
    subs = batch(tmp_path)
    deep = b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    write_folder(subs / "alice", with_notebook(deep))
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "exercises/numpy_attention.ipynb is not a notebook (its JSON is nested too deeply to be "
        "read): hand in the .ipynb file as Jupyter saved it; its exercises score 0"
    )
    assert "numpy_attention" not in got["alice"].sources
    assert_clean(got["bob"])


def test_cell_source_holding_a_number_is_left_out(tmp_path: Path) -> None:
    """Is an answer cell whose source list holds a number left out with one line, and its
    exercise named as missing, the rest of the notebook read?"""
    subs = batch(tmp_path)
    nb = answered()
    answer_cells(nb)[0]["source"] = ["def softmax_rows(scores):\n", 5]
    write_folder(subs / "alice", with_notebook(nb))
    got = by_student(collect(subs))
    errors = got["alice"].errors
    assert errors[0] == (
        "exercises/numpy_attention.ipynb: cell 6 (softmax_rows) has a source that is not text "
        "(a string or a list of strings): it was left out"
    )
    assert errors[1].startswith("exercises/numpy_attention.ipynb has no answer cell defining ")
    assert len(errors) == 2
    assert "def self_attention_numpy(" in got["alice"].sources["numpy_attention"]
    assert_clean(got["bob"])


@pytest.mark.parametrize(
    "damage",
    [
        "cells-not-a-list",
        "cell-not-a-dict",
        "metadata-not-a-dict",
        "nbgrader-not-a-dict",
        "grade-id-deep-list",
        "source-a-dict",
        "lone-surrogate",
        "notebook-a-list",
    ],
)
def test_wrong_json_types_never_stop_collection(tmp_path: Path, damage: str) -> None:
    """Does a notebook with the wrong JSON type anywhere give one line or a graded module, never
    an exception, with every error line printable UTF-8?"""
    subs = batch(tmp_path)
    nb: Any = answered()
    cell = answer_cells(nb)[0]
    if damage == "cells-not-a-list":
        nb["cells"] = {"0": cell}
    elif damage == "cell-not-a-dict":
        nb["cells"].append(7)
    elif damage == "metadata-not-a-dict":
        cell["metadata"] = ["nbgrader"]
    elif damage == "nbgrader-not-a-dict":
        cell["metadata"]["nbgrader"] = "solution"
    elif damage == "grade-id-deep-list":
        cell["metadata"]["nbgrader"]["grade_id"] = json.loads("[" * 900 + "]" * 900)
    elif damage == "source-a-dict":
        cell["source"] = {"text": "x = 1"}
    elif damage == "lone-surrogate":
        cell["source"] = cell["source"] + ["X = '\ud800'\n"]
    else:
        nb = [nb]
    write_folder(subs / "alice", with_notebook(nb))
    alice = by_student(collect(subs))["alice"]
    assert alice.errors or "numpy_attention" in alice.sources
    for line in alice.errors:
        line.encode("utf-8")
        assert "\n" not in line
    alice.digest.encode("ascii")
    for source in alice.sources.values():
        source.encode("utf-8")
    if damage == "lone-surrogate":
        assert alice.errors[0] == (
            "exercises/numpy_attention.ipynb: cell 6 (softmax_rows) cannot be read (it holds text "
            "that is not valid Unicode (a lone surrogate)): softmax_rows scores 0 until it can be "
            "read; the notebook's other cells were graded"
        )


def test_added_cell_with_a_deep_expression_is_left_out(tmp_path: Path) -> None:
    """Is a student's added cell holding 100,000 unary minus signs left out in one line, every
    answer cell still graded?"""
    subs = batch(tmp_path)
    nb = answered()
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": DEEP, "outputs": []})
    write_folder(subs / "alice", with_notebook(nb))
    got = by_student(collect(subs))
    line = one_line(got["alice"])
    assert line.startswith(f"exercises/numpy_attention.ipynb: cell {len(nb['cells'])} cannot be ")
    assert "nested too deeply" in line and line.endswith("it was left out")
    source = got["alice"].sources["numpy_attention"]
    assert "def softmax_rows(" in source and "-----" not in source
    assert_clean(got["bob"])


def test_file_name_not_utf8_is_one_printable_line(tmp_path: Path) -> None:
    """Is a stray file whose name is not valid UTF-8 beside the modules left out with one
    printable line (its bytes shown as escapes), the modules graded, the digest computed; and a
    student folder so named graded under a sanitized id?"""
    subs = batch(tmp_path)
    write_folder(subs / "alice", sources())
    stray = os.fsdecode(b"simple_attention\xff.py")
    (subs / "alice" / "exercises" / stray).write_text("x = 1\n")
    named = write_folder(subs / os.fsdecode(b"j\xe9r\xf4me"), sources())
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "1 file whose name is not UTF-8 text not read: exercises/simple_attention\\xff.py: "
        "rename it with plain letters"
    )
    assert sorted(got["alice"].sources) == sorted(MODULES)
    jerome = next(s for s in got.values() if s.origin == named)
    assert jerome.student.startswith("j_r_me-")
    for sub in got.values():
        for line in sub.errors:
            line.encode("utf-8")
    assert_clean(got["bob"])


def test_control_characters_in_a_name_stay_on_one_line(tmp_path: Path) -> None:
    """Is a file whose name holds a newline named in one line, the newline shown as an escape?"""
    subs = batch(tmp_path)
    write_folder(subs / "alice", {**sources(), "exercises/old\ncopy.zip": b"PK"})
    got = by_student(collect(subs))
    assert one_line(got["alice"]) == (
        "nested archive exercises/old\\x0acopy.zip was not opened: put the .py files themselves "
        "in the submission"
    )
    assert_clean(got["bob"])


def test_entries_bounds_the_submissions_collect_finds(tmp_path: Path) -> None:
    """Does entries() count what collect() looks at (not dotfiles or __MACOSX), so that it is at
    least the number of submissions found (autograde starts no more lanes than that)?"""
    shutil.copytree(ROOT / "solutions", tmp_path / "ada" / "exercises")
    shutil.copytree(ROOT / "solutions", tmp_path / "bob" / "exercises")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "__MACOSX").mkdir()
    assert collect_mod.entries(tmp_path) == 3
    assert len(collect(tmp_path)) == 2
    assert collect_mod.entries(tmp_path / "missing") == 0
