"""Collect: read every student's exercise files from a submissions folder, into memory.

A submission is one entry of the folder: `<student>/` or `<student>.zip`, holding the modules
either as `exercises/<module>.py` (the student release's paths) or at its top, possibly under one
wrapping folder; a module may also come as the released notebook `<module>.ipynb`, whose answer
cells become its source (autograder/notebooks/extract.py). Nothing is extracted to disk and
no symlink is followed outside a submission.
Every problem becomes one line in `Submission.errors`; the rest of the batch goes on.

Every module's source, from a .py file or a notebook, goes through the kit's bounded parse
(learner/parse.py) here: a source the grader cannot safely parse (nested too deeply, too
large, a NUL character) is not kept, so no later step (the scans, the worker) ever sees one. A
file whose name is not UTF-8 is not read, and every error line is printable UTF-8.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import stat
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from learner import manifest, parse

from .model import Submission

MAX_SOURCE_BYTES = 256 * 1024  # one module file
MAX_NOTEBOOK_BYTES = 2 * 1024 * 1024  # one notebook, outputs included
MAX_ZIP_BYTES = 5 * 1024 * 1024  # declared uncompressed total of one zip
MAX_ZIP_MEMBERS = 500
MAX_ID_LENGTH = 100
MAX_DEPTH = 4  # path components looked at inside a folder submission
MAX_LISTED = 2000  # entries looked at inside a folder submission
SIMILAR = 0.9  # name similarity above which a .py file looks like a misnamed module

SAFE_ID = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]*")
IGNORED_NAMES = {"__pycache__", "__MACOSX", "Thumbs.db", "desktop.ini"}
ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
# top-level files that look like a submission in the wrong form (others are ignored)
LOOSE_SUBMISSION = (*ARCHIVES[1:], ".py", ".ipynb")
Reader = Callable[..., bytes]  # reads one file, at most `limit` (MAX_SOURCE_BYTES) + 1 bytes


class _Tree:
    """The files of one submission: relative posix path -> reader, plus problems found listing."""

    def __init__(self) -> None:
        self.files: dict[str, Reader] = {}
        self.errors: list[str] = []
        self.close: Callable[[], None] = lambda: None


def collect(submissions_dir: Path) -> list[Submission]:
    """Every submission in `submissions_dir`, sorted by student id."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"submissions folder {root} does not exist or is not a folder")
    found: list[Submission] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if _ignored(entry.name):
            continue
        sub = _collect_entry(entry)
        if sub is not None:
            found.append(sub)
    return _merge_duplicates(found)


def entries(submissions_dir: Path) -> int:
    """How many entries collect() will look at: at least as many as the submissions it finds."""
    try:
        return sum(1 for e in os.scandir(submissions_dir) if not _ignored(e.name))
    except OSError:
        return 0


def _collect_entry(entry: Path) -> Submission | None:
    """One submission from a folder, a zip or a misplaced file; None for unrelated files."""
    name = entry.name
    is_zip = name.lower().endswith(".zip")
    raw_id = name[:-4] if is_zip else name
    if entry.is_symlink():
        sub = Submission(raw_id, entry)
        sub.errors.append(
            f"{name} is a symlink; submissions are read only from real files: not read"
        )
    elif entry.is_dir():
        sub = _from_tree(entry, _list_folder(entry))
    elif not entry.is_file():
        return None
    elif is_zip:
        sub = _from_tree(entry, _list_zip(entry))
    elif name.lower().endswith(LOOSE_SUBMISSION):
        raw_id = name.split(".", 1)[0]
        sub = Submission(raw_id, entry)
        hand_in = f"a folder {raw_id}/ or a {raw_id}.zip holding exercises/<module>.py"
        sub.errors.append(
            f"{name} is a notebook on its own: hand in a folder {raw_id}/ or a {raw_id}.zip "
            "holding the released notebooks (simple_attention.ipynb, ...) with your answers"
            if _notebook(name)
            else f"{name} is not a submission: hand in {hand_in}"
        )
    else:
        return None  # a roster, a README: not a submission
    return _finish(sub, raw_id)


def _finish(sub: Submission, raw_id: str) -> Submission:
    """Apply the id check and compute the digest."""
    student, problem = _student_id(raw_id)
    sub.student = student
    if problem:
        sub.errors.insert(0, problem)
    sub.errors = [printable(line) for line in sub.errors]
    sub.digest = digest(sub.sources, sub.errors)
    return sub


def digest(sources: dict[str, str], errors: list[str]) -> str:
    """sha256 over the sorted (module, source) pairs and the sorted error lines."""
    payload = json.dumps([sorted(sources.items()), sorted(errors)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def printable(text: str) -> str:
    """`text` as one line of valid UTF-8: the bytes of a name that was not UTF-8 (held as
    surrogates) and control characters (a newline in a file name) are shown as \\xNN escapes, so
    the line can be stored, hashed and shown as one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape" if _escapes_only(text) else "surrogatepass")
        text = raw.decode("utf-8", "backslashreplace")
    return "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _escapes_only(text: str) -> bool:
    """Whether every surrogate in `text` is one of os.fsdecode's byte escapes (U+DC80..U+DCFF)."""
    return all(0xDC80 <= ord(ch) <= 0xDCFF for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)


# ---- student ids ---------------------------------------------------------------------------


def _student_id(raw: str) -> tuple[str, str]:
    """(id, "") for a safe name; (sanitized id, the error line) otherwise."""
    if SAFE_ID.fullmatch(raw) and len(raw) <= MAX_ID_LENGTH:
        return raw, ""
    cleaned = re.sub(r"[^A-Za-z0-9._@-]", "_", raw).lstrip(".")[:40] or "_"
    tag = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    student = f"{cleaned}-{tag}"
    return student, (
        f"student id {raw[:60]!r} may only use letters, digits and . _ - @ "
        f"(at most {MAX_ID_LENGTH} characters, not starting with a dot): graded as {student!r}"
    )


def _merge_duplicates(subs: list[Submission]) -> list[Submission]:
    """Ids equal up to case become one entry with an error and nothing graded."""
    groups: dict[str, list[Submission]] = {}
    for sub in subs:
        groups.setdefault(sub.student.lower(), []).append(sub)
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        group.sort(key=lambda s: (s.student, s.origin.name))
        names = " and ".join(_shown(s.origin) for s in group)
        first = group[0]
        sub = Submission(first.student, first.origin)
        sub.errors.append(
            printable(
                f"{len(group)} submissions for {first.student} ({names}): "
                "none was graded; keep only one"
            )
        )
        sub.digest = digest(sub.sources, sub.errors)
        merged.append(sub)
    return sorted(merged, key=lambda s: s.student)


def _shown(path: Path) -> str:
    return f"{path.name}/" if path.is_dir() and not path.is_symlink() else path.name


# ---- listing a folder ----------------------------------------------------------------------


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def _list_folder(folder: Path) -> _Tree:
    """Files of a folder submission, shallowest first, never leaving it through a symlink."""
    tree = _Tree()
    base = folder.resolve()
    outside: list[str] = []
    undecodable: list[str] = []
    queue: deque[tuple[Path, str]] = deque([(base, "")])
    listed = 0
    while queue:
        folder_path, prefix = queue.popleft()
        try:
            entries = sorted(os.scandir(folder_path), key=lambda e: e.name)
        except OSError as e:
            tree.errors.append(
                f"{prefix or folder.name + '/'} could not be read: {e.strerror or e}"
            )
            continue
        for entry in entries:
            if _ignored(entry.name):
                continue
            listed += 1
            if listed > MAX_LISTED:
                tree.errors.append(
                    f"{folder.name}/ holds over {MAX_LISTED} files: only the first were looked at"
                )
                queue.clear()
                break
            rel, path = prefix + entry.name, Path(entry.path)
            if not _utf8(entry.name):
                undecodable.append(printable(rel))
            elif entry.is_symlink():
                target = _inside(base, path)
                if target is None:
                    outside.append(rel)
                elif target.is_file():
                    tree.files[rel] = _file_reader(target)
                # a symlinked folder inside the submission is listed where it really is
            elif entry.is_dir(follow_symlinks=False):
                if rel.count("/") + 1 < MAX_DEPTH:
                    queue.append((path, rel + "/"))
            else:
                tree.files[rel] = _file_reader(path)
    if outside:
        tree.errors.append(
            f"{_plural(len(outside), 'symlink')} pointing outside the submission not read: "
            + ", ".join(outside[:3])
        )
    if undecodable:
        tree.errors.append(
            f"{_plural(len(undecodable), 'file')} whose name is not UTF-8 text not read: "
            + ", ".join(undecodable[:3])
            + ": rename it with plain letters"
        )
    return tree


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inside(base: Path, link: Path) -> Path | None:
    """The resolved target of `link` if it exists inside `base`, else None."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return target if target.is_relative_to(base) else None


def _file_reader(path: Path) -> Reader:
    def read(limit: int = MAX_SOURCE_BYTES) -> bytes:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError("not a regular file")
        with open(path, "rb") as f:
            return f.read(limit + 1)

    return read


# ---- listing a zip -------------------------------------------------------------------------


def _list_zip(path: Path) -> _Tree:
    """Members of a zip, each read into memory on demand with a hard size cap."""
    tree = _Tree()
    if path.stat().st_size > MAX_ZIP_BYTES:  # bounds the central directory read on opening
        tree.errors.append(f"{path.name} is over {MAX_ZIP_BYTES // 2**20} MB: not read")
        return tree
    try:
        zf = zipfile.ZipFile(path)
    except Exception as e:  # an untrusted archive fails in many library-specific ways
        tree.errors.append(f"{path.name} is not a readable zip ({e}): nothing was graded")
        return tree
    tree.close = zf.close
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        tree.errors.append(
            f"{path.name} holds {len(infos)} entries (limit {MAX_ZIP_MEMBERS}): not read"
        )
        return tree
    declared = sum(i.file_size for i in infos)
    if declared > MAX_ZIP_BYTES:
        tree.errors.append(
            f"{path.name} unpacks to {declared / 2**20:.1f} MB "
            f"(limit {MAX_ZIP_BYTES / 2**20:.0f} MB): not read"
        )
        return tree
    unsafe, links = [], []
    for info in infos:
        raw = info.filename.replace("\\", "/")  # some Windows tools write backslashes
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if raw.startswith("/") or ".." in parts or re.match(r"[A-Za-z]:", raw):
            unsafe.append(info.filename)
        elif stat.S_ISLNK(info.external_attr >> 16):
            links.append(info.filename)
        elif parts and not info.is_dir() and not any(_ignored(p) for p in parts):
            tree.files["/".join(parts)] = _member_reader(zf, info)
    if unsafe:
        shown = ", ".join(repr(n) for n in unsafe[:3])
        tree.errors.append(
            f"{path.name}: {_plural(len(unsafe), 'entry', 'entries')} with an absolute or '..' "
            f"path not read: {shown}"
        )
    if links:
        tree.errors.append(
            f"{path.name}: {_plural(len(links), 'symlink')} not read: {', '.join(links[:3])}"
        )
    return tree


def _member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Reader:
    def read(limit: int = MAX_SOURCE_BYTES) -> bytes:
        with zf.open(info) as f:  # at most the cap, whatever the header declares
            return f.read(limit + 1)

    return read


# ---- finding the modules -------------------------------------------------------------------


def _from_tree(origin: Path, tree: _Tree) -> Submission:
    try:
        return _read_tree(origin, tree)
    finally:
        tree.close()


def _read_tree(origin: Path, tree: _Tree) -> Submission:
    sub = Submission(origin.name, origin, errors=list(tree.errors))
    if not tree.files:
        if not tree.errors:
            sub.errors.append(f"{_shown(origin)} is empty: no files were found")
        return sub
    nested = [p for p in tree.files if p.lower().endswith(ARCHIVES)]
    if nested:
        sub.errors.append(
            f"nested archive {', '.join(nested[:3])} was not opened: "
            "put the .py files themselves in the submission"
        )
    base = _pick_base(tree.files)
    wanted = {f"{base}{m}{ext}" for m in manifest.modules() for ext in (".py", ".ipynb")}
    for module in manifest.modules():
        path, notebook = f"{base}{module}.py", f"{base}{module}.ipynb"
        strays = _lookalikes(module, tree.files, wanted)
        if path not in tree.files and notebook in tree.files:
            _read_notebook(sub, module, notebook, tree.files[notebook])
        elif path in tree.files:
            _read_module(sub, module, path, tree.files[path])
            strays = [p for p in strays if p.lower().endswith(".py")]
            strays += [notebook] if notebook in tree.files else []
            if strays:
                sub.errors.append(
                    f"{', '.join(strays[:3])} not graded: only {path} is read for {module}"
                )
        else:
            sub.errors.append(_missing_line(module, path, strays))
    return sub


def _pick_base(files: dict[str, Reader]) -> str:
    """The folder prefix holding most modules: '', 'exercises/', or the same under one wrapper."""
    bases = ["", "exercises/"]
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) == 1 and all("/" in p for p in files):
        wrap = tops.pop()
        if wrap != "exercises":
            bases += [f"{wrap}/", f"{wrap}/exercises/"]
    counts = [
        sum(f"{b}{m}.py" in files or f"{b}{m}.ipynb" in files for m in manifest.modules())
        for b in bases
    ]
    return bases[counts.index(max(counts))] if max(counts) else "exercises/"


def _lookalikes(module: str, files: dict[str, Reader], wanted: set[str]) -> list[str]:
    """Files that look like `module` misnamed or misplaced (never a file that is read).

    .ipynb and .txt count too: a notebook or a renamed copy handed in instead of the module.
    """
    found = []
    for rel in files:
        stem, _, ext = rel.rsplit("/", 1)[-1].rpartition(".")
        if rel in wanted or ext.lower() not in ("py", "ipynb", "txt"):
            continue
        close = difflib.SequenceMatcher(None, _normal(stem), module).ratio() > SIMILAR
        if _normal(stem) == module or close:
            found.append(rel)
    return sorted(found)


def _normal(stem: str) -> str:
    """`Simple_Attention (1)`, `simple-attention copy` -> `simple_attention`."""
    s = re.sub(r"\s*\(\d+\)$", "", stem.strip().lower())
    s = re.sub(r"[\s-]+", "_", s)
    return re.sub(r"_(copy|\d+)$", "", s)


def _missing_line(module: str, path: str, strays: list[str]) -> str:
    ids = ", ".join(e.id for e in manifest.load() if e.module == module)
    hint = ""
    if strays and _notebook(strays[0]):
        hint = f" (found {strays[0]}: it should be {path[:-3]}.ipynb)"
    elif strays:
        hint = f" (found {strays[0]}: it should be {path})"
    return f"exercises/{module}.py is missing{hint}: {ids} score 0"


def _notebook(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def _read_module(sub: Submission, module: str, path: str, read: Reader) -> None:
    shown = f"exercises/{module}.py"
    try:
        data = read()
    except Exception as e:  # OSError, BadZipFile, zlib.error, encrypted member, ...
        sub.errors.append(f"{shown} could not be read ({e}): its exercises score 0")
        return
    if len(data) > MAX_SOURCE_BYTES:
        sub.errors.append(
            f"{shown} is over {MAX_SOURCE_BYTES // 1024} KB: not read, its exercises score 0"
        )
        return
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        sub.errors.append(
            f"{shown} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): "
            "save it as UTF-8; its exercises score 0"
        )
        return
    _keep(sub, module, shown, source)


def _keep(sub: Submission, module: str, shown: str, source: str) -> None:
    """Keep `source` as the module's, unless the grader cannot safely parse it (one line then)."""
    reason = parse.problem(source)
    if reason is None:
        sub.sources[module] = source
    else:
        sub.errors.append(f"{shown} cannot be graded: {reason}: its exercises score 0")


def _read_notebook(sub: Submission, module: str, path: str, read: Reader) -> None:
    """A module handed in as its released notebook: the answer cells become its source."""
    from ..notebooks.extract import extract

    shown = path
    try:
        data = read(MAX_NOTEBOOK_BYTES)
    except Exception as e:  # OSError, BadZipFile, zlib.error, encrypted member, ...
        sub.errors.append(f"{shown} could not be read ({e}): its exercises score 0")
        return
    if len(data) > MAX_NOTEBOOK_BYTES:
        sub.errors.append(
            f"{shown} is over {MAX_NOTEBOOK_BYTES // 2**20} MB: not read, its exercises score 0; "
            "clear its outputs (Edit > Clear Outputs of All Cells) and save it again"
        )
        return
    got = extract(module, data, shown)
    sub.errors.extend(got.errors)
    if got.source is not None:
        _keep(sub, module, shown, got.source)
        if module in sub.sources and got.cells is not None:
            sub.cells[module] = got.cells  # errors then name its cells, not the module's lines


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
