"""Gradescope: build/autograder.zip, and what its run_autograder does for each submission.

The zip holds setup.sh and run_autograder at its root, the kit's source (solutions and hidden
suites included: it is the instructor's file, never the students'), and gradescope.json with the
visibility of hidden checks. Gradescope unpacks it to /autograder/source and runs setup.sh once;
for each submission it runs run_autograder, which calls `python3 -m autograder.gradescope run`:
the submission in /autograder/submission is graded as a class of one by the same batch as
`attention-kit autograde`, and that student's results (report.results_json) go to
/autograder/results/results.json with the run's execution_time. Every path is under
$AUTOGRADER_ROOT (default /autograder), so the same script runs on a test's temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from learner import manifest

from . import ROOT
from .release import write_zip

DEFAULT_ROOT = "/autograder"
STUDENT = "submission"  # the id of the class of one (it is not shown to the student)
SETTINGS = "gradescope.json"
VISIBILITY_ENV = "ATTENTION_KIT_VISIBILITY"  # overrides gradescope.json's hidden_visibility
SEED_ENV = "ATTENTION_KIT_SEED"  # fixes the hidden inputs' seed (default: a new one per run)
DEFAULT_VISIBILITY = "after_published"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# what of the kit goes into the zip: folders whole (minus caches), then single files
SOURCE_DIRS = ("learner", "autograder", "solutions", "exercises")
SOURCE_FILES = ("exercises.toml", "pyproject.toml", "constraints.txt", "README.md")
SKIPPED_PARTS = ("__pycache__", ".pytest_cache")
# copying /autograder/submission for grading: what a hand-in of five .py files never exceeds
MAX_COPY_FILES = 2000
MAX_COPY_FILE_BYTES = 5 * 1024 * 1024
MAX_COPY_DEPTH = 6
GRADER_FAULT = (
    "The autograder itself failed while grading this submission: this is not a problem with "
    "your code. Submit again in a few minutes; if it happens again, tell your instructor."
)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root on its Ubuntu image, when it builds the autograder:
# a venv in $ROOT/venv holding the CPU build of {torch} and the kit from this zip.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
cd "$SOURCE"
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -c 'import sys; assert sys.version_info >= (3, 10), "the kit needs Python 3.10+"'
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade "pip>=23"
# torch alone from PyTorch's CPU index (PyPI's Linux wheel is the CUDA build)
"$VENV/bin/pip" install --no-deps --index-url {index} "{torch}+cpu"
# the kit, every other dependency from PyPI at the pins of constraints.txt ({torch} is met
# by the CPU build). Editable: the kit's files stay in $SOURCE, which no sandboxed worker sees
"$VENV/bin/pip" install -c constraints.txt -e .
"$VENV/bin/python" -c 'import torch, autograder.grading.batch; print("torch", torch.__version__)'
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission with the hidden suites and
# write $ROOT/results/results.json. It writes one even if the kit cannot start.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY=python3
if [ -x "$ROOT/venv/bin/python3" ]; then PY="$ROOT/venv/bin/python3"; fi
mkdir -p "$ROOT/results"
cd "$ROOT/source" && "$PY" -m autograder.gradescope run --root "$ROOT"
if [ ! -s "$ROOT/results/results.json" ]; then
    printf '%s\\n' '{"score": 0, "execution_time": 0, "tests": [], "output": "@FAULT@"}' \\
        > "$ROOT/results/results.json"
fi
"""


# ---- building the zip ----------------------------------------------------------------------


def _torch_pin(pyproject: Path) -> str:
    match = re.search(r'"(torch==[^";]+)"', pyproject.read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{pyproject} pins no torch version")
    return match.group(1)


def setup_sh(root: Path = ROOT) -> str:
    return SETUP_SH.format(torch=_torch_pin(root / "pyproject.toml"), index=TORCH_CPU_INDEX)


def run_autograder_sh() -> str:
    return RUN_AUTOGRADER.replace("@FAULT@", json.dumps(GRADER_FAULT)[1:-1].replace("'", "'\\''"))


def zip_files(root: Path = ROOT, *, visibility: str = DEFAULT_VISIBILITY) -> dict[str, bytes]:
    """Every member of autograder.zip: relative posix path -> contents."""
    from .grading.report import VISIBILITIES

    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")
    files: dict[str, bytes] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not any(p in SKIPPED_PARTS for p in rel.parts):
                files[rel.as_posix()] = path.read_bytes()
    for name in SOURCE_FILES:
        files[name] = (root / name).read_bytes()
    settings = {"hidden_visibility": visibility}
    files[SETTINGS] = (json.dumps(settings, indent=2) + "\n").encode()
    files["setup.sh"] = setup_sh(root).encode()
    files["run_autograder"] = run_autograder_sh().encode()
    return dict(sorted(files.items()))


def build(out: Path, *, visibility: str = DEFAULT_VISIBILITY) -> Path:
    """Write `out`/autograder.zip; returns its path."""
    archive = out / "autograder.zip"
    executable = {"setup.sh": 0o755, "run_autograder": 0o755}
    write_zip(archive, zip_files(visibility=visibility), modes=executable)
    return archive


# ---- running on Gradescope -----------------------------------------------------------------


def _settings(source: Path) -> dict[str, Any]:
    try:
        return json.loads((source / SETTINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _module_folder(submission: Path) -> Path | None:
    """The folder of the submission holding the most exercise modules (.py or the notebook;
    on a tie, not the untouched stubs, then the shallowest): students upload the .py files, the
    notebooks, an exercises/ folder, their whole repository, or a zip Gradescope unpacked."""
    best: tuple[int, bool, int, str] | None = None
    for dirpath, dirnames, filenames in os.walk(submission):
        depth = len(Path(dirpath).relative_to(submission).parts)
        dirnames[:] = [] if depth >= MAX_COPY_DEPTH else sorted(_kept(dirnames))
        names = set(filenames)
        found = sum(f"{m}.py" in names or f"{m}.ipynb" in names for m in manifest.modules())
        if not found:
            continue
        key = (-found, _untouched(Path(dirpath)), depth, dirpath)
        if best is None or key < best:
            best = key
    return Path(best[3]) if best else None


def _untouched(folder: Path) -> bool:
    """True when every module .py in `folder` is the released stub unchanged: a whole
    repository uploaded with the work done in the notebooks beside them."""
    stubs = [(folder / f"{m}.py", ROOT / "exercises" / f"{m}.py") for m in manifest.modules()]
    present = [(mine, stub) for mine, stub in stubs if mine.is_file() and not mine.is_symlink()]
    try:
        return bool(present) and all(
            mine.stat().st_size == stub.stat().st_size and mine.read_bytes() == stub.read_bytes()
            for mine, stub in present
        )
    except OSError:
        return False


def _kept(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith(".") and n not in ("__pycache__", "__MACOSX")]


def _copy_bounded(src: Path, dest: Path) -> list[str]:
    """Copy the files of `src` to `dest` (symlinks as links, never followed; no hidden folders
    such as .git), within the limits; returns one line for each thing left out."""
    notes, copied = [], 0
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        rel = here.relative_to(src)
        dirnames[:] = [] if len(rel.parts) >= MAX_COPY_DEPTH else sorted(_kept(dirnames))
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            path = here / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(path), dest / rel / name)
                continue
            if not stat.S_ISREG(info.st_mode):  # a fifo or a device: nothing to grade, never read
                continue
            if copied >= MAX_COPY_FILES:
                notes.append(f"over {MAX_COPY_FILES} files uploaded: only the first were read")
                return notes
            if info.st_size > MAX_COPY_FILE_BYTES:
                shown = (rel / name).as_posix()
                notes.append(f"{shown} is over {MAX_COPY_FILE_BYTES // 2**20} MB: not read")
                continue
            shutil.copyfile(path, dest / rel / name)
            copied += 1
    return notes


def stage(submission: Path, submissions: Path) -> list[str]:
    """A submissions folder holding this one submission as `attention-kit autograde` reads it;
    returns lines about what could not be taken."""
    submissions.mkdir(parents=True, exist_ok=True)
    if not submission.is_dir():
        return [f"nothing was uploaded ({submission} does not exist)"]
    base = _module_folder(submission)
    if base is None:
        zips = [p for p in submission.iterdir() if p.suffix.lower() == ".zip" and p.is_file()]
        if len(zips) == 1:  # a zip Gradescope left packed: the batch opens it, bounded
            shutil.copyfile(zips[0], submissions / f"{STUDENT}.zip")
            return []
        base = submission  # no module anywhere: the batch says what is missing
    return _copy_bounded(base, submissions / STUDENT)


METADATA = "submission_metadata.json"  # Gradescope's, beside submission/: created_at, ...


def stamp(root: Path, staged: Path) -> str | None:
    """Write Gradescope's submission time (submission_metadata.json's created_at) as the staged
    folder's timestamp.txt, the time the gradebook records; a timestamp.txt from the upload is
    the student's own and never kept. Returns the time, or None when Gradescope gave none."""
    from .course import TIMESTAMP_FILE, parse_timestamp

    if not staged.is_dir():
        return None
    for claim in [staged / TIMESTAMP_FILE, *staged.glob(f"*/{TIMESTAMP_FILE}")]:
        claim.unlink(missing_ok=True)
    try:
        created = json.loads((root / METADATA).read_text(encoding="utf-8"))["created_at"]
        moment = parse_timestamp(str(created))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    iso = moment.isoformat(timespec="seconds")
    (staged / TIMESTAMP_FILE).write_text(iso + "\n", encoding="utf-8")
    return iso


def grade(root: Path, *, visibility: str, seed: int | None) -> dict[str, Any]:
    """Grade $ROOT/submission: the results.json document."""
    from .grading import batch, collect, record, report

    with tempfile.TemporaryDirectory(prefix="attention-kit-") as tmp:
        submissions, out = Path(tmp) / "submissions", Path(tmp) / "out"
        notes = stage(root / "submission", submissions)
        submitted = stamp(root, submissions / STUDENT)
        # what collection alone found: no line that running the student's code produced
        collected = [line for sub in collect.collect(submissions) for line in sub.errors]
        summary = batch.autograde(submissions, out, seed=seed, lanes=1, progress=False)
        book = record.Gradebook(out / "gradebook.sqlite")
        try:
            graded = {g.student: g for g in book.latest()}[STUDENT]
        finally:
            book.close()
    print(f"graded with seed {summary.seed}, sandbox mode {summary.mode}")
    if graded.digest.startswith(batch.UNFINISHED):  # its lane died twice: say so, in our words
        collected = [*collected, GRADER_FAULT]
    doc = report.results_json(graded, hidden_visibility=visibility, problems=collected)
    # What is wrong with the upload (a missing file, a notebook that is not one) is the
    # student's to see at once, to fix and resubmit; each test keeps its own visibility, and
    # with it whatever running their code said (an import-time exception's message, which may
    # carry the hidden inputs it saw): only collection's lines are in the top-level output.
    doc["visibility"] = "visible"
    if submitted:
        doc["output"] = f"Submitted {submitted} (Gradescope's time).\n\n{doc['output']}".rstrip()
    if notes:
        lines = "\n".join(f"- {n}" for n in notes)
        doc["output"] = f"Left out of your upload:\n{lines}\n\n{doc['output']}".rstrip()
    return doc


def lock_secrets(root: Path) -> list[Path]:
    """As root with the kit installed from $ROOT/source (Gradescope's container, where the
    sandbox may have no namespaces and the worker is only another uid): make the solutions and
    the hidden suites readable by root alone. Returns the folders locked."""
    if os.geteuid() != 0 or not ROOT.resolve().is_relative_to((root / "source").resolve()):
        return []
    locked = [p for p in (ROOT / "solutions", ROOT / "autograder" / "hidden") if p.is_dir()]
    for folder in locked:
        os.chmod(folder, 0o700)
    return locked


def run(root: Path) -> int:
    """run_autograder's work: always leaves a results.json, whatever goes wrong."""
    started = time.monotonic()
    lock_secrets(root)
    results = root / "results" / "results.json"
    settings = _settings(root / "source")
    visibility = os.environ.get(VISIBILITY_ENV) or settings.get("hidden_visibility")
    seed = os.environ.get(SEED_ENV)
    try:
        doc = grade(
            root,
            visibility=visibility or DEFAULT_VISIBILITY,
            seed=int(seed) if seed else None,
        )
    except Exception:
        traceback.print_exc()  # into $ROOT/results/stdout: the instructor's view
        doc = {"score": 0, "output": GRADER_FAULT, "tests": []}
    doc["execution_time"] = round(time.monotonic() - started, 2)
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_name(".results.json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(results)
    print(f"score {doc['score']}; wrote {results}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="write build/autograder.zip")
    make.add_argument("--out", type=Path, default=ROOT / "build", help="default: build/")
    make.add_argument(
        "--visibility",
        default=DEFAULT_VISIBILITY,
        help="when students see the hidden checks' results: hidden, after_due_date, "
        "after_published (default) or visible",
    )
    grade_one = sub.add_parser("run", help="grade $AUTOGRADER_ROOT/submission (run_autograder)")
    grade_one.add_argument(
        "--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", DEFAULT_ROOT))
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root)
    try:
        archive = build(args.out, visibility=args.visibility)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {archive}: upload it as the assignment's autograder (Configure Autograder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
