"""Write examples/submissions/ from examples/class.toml (`--check`: fail if it is stale)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from autograder import ROOT
from learner import manifest
from learner.manifest import tomllib

CLASS = ROOT / "examples" / "class.toml"
OUT = ROOT / "examples" / "submissions"


def expected_files() -> dict[Path, str]:
    """Every file of the sample class with its contents."""
    with open(CLASS, "rb") as f:
        doc = tomllib.load(f)
    students = doc["student"]
    files: dict[Path, str] = {}
    for s in students:
        submitted = s.get("submitted", doc.get("submitted"))
        if submitted:  # nbgrader's record of when it came in (course.TIMESTAMP_FILE)
            files[OUT / s["id"] / "timestamp.txt"] = f"{submitted}\n"
        base = ROOT / s["base"]
        sources = {m: (base / f"{m}.py").read_text() for m in s.get("modules", manifest.modules())}
        for edit in s.get("edits", []):
            text = sources[edit["module"]]
            if edit["old"] not in text:
                raise ValueError(f"{s['id']}: {edit['module']}.py has no {edit['old'][:60]!r}")
            sources[edit["module"]] = text.replace(edit["old"], edit["new"], 1)
        for module, text in sources.items():
            files[OUT / s["id"] / "exercises" / f"{module}.py"] = text
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    files = expected_files()
    on_disk = (
        {p for g in ("*.py", "timestamp.txt") for p in OUT.rglob(g)} if OUT.exists() else set()
    )
    stale = [p for p, t in files.items() if not p.exists() or p.read_text() != t]
    extra = sorted(on_disk - set(files))
    if args.check:
        for p in [*stale, *extra]:
            print(f"stale: {p.relative_to(ROOT)} (run `make class`)", file=sys.stderr)
        return 1 if stale or extra else 0
    if OUT.exists():
        shutil.rmtree(OUT)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    students = len({p.parts[-3] for p in files})
    print(f"wrote {len(files)} files for {students} students in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
