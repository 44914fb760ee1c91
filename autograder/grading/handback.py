"""Handing feedback back: what each student receives, one folder (or one zip) per student.

Each holds the student's feedback page (feedback.html), the same as Markdown (feedback.md) and
their results (results.json, Gradescope's schema: points and messages per exercise). All three
are made from the gradebook, by the functions that write OUT/feedback/ and OUT/results/, so
what is handed back is what the instructor's OUT shows; nothing of another student, and
nothing the grader keeps to itself (seeds, the hidden inputs, the gradebook) is in them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from learner import atomic

from ..course import Lateness
from . import report, report_html
from .collect import SAFE_ID
from .model import Graded

FILES = ("feedback.html", "feedback.md", "results.json")
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # one date inside every zip: the same grades, the same bytes


@dataclass
class HandedBack:
    written: list[Path] = field(default_factory=list)  # a folder or a zip per student
    gone: list[str] = field(default_factory=list)  # handed back, no longer in SUBMISSIONS


def files_for(g: Graded, when: str = "", late: Lateness | None = None) -> dict[str, bytes]:
    """The files one student receives, by name (with `late`, the feedback says when the
    submission came in and its late penalty)."""
    md = report.feedback_md(g, when, late)
    return {
        "feedback.html": report_html.feedback_page(g.student, md).encode("utf-8"),
        "feedback.md": md.encode("utf-8"),
        "results.json": (json.dumps(report.results_json(g), indent=2) + "\n").encode("utf-8"),
    }


def hand_back(
    graded: list[Graded],
    dest: Path,
    when: dict[str, str] | None = None,
    *,
    zips: bool = False,
    only: set[str] | None = None,
    late: dict[str, Lateness] | None = None,
) -> HandedBack:
    """DEST/<student>/ (or DEST/<student>.zip) for every student, or those in `only`."""
    when = when or {}
    done = HandedBack()
    for g in graded:
        if only is not None and g.student not in only:
            continue
        if not SAFE_ID.fullmatch(g.student):
            raise ValueError(f"student id {g.student!r} is not safe as a file name")
        files = files_for(g, when.get(g.student, ""), (late or {}).get(g.student))
        if zips:
            path = Path(dest) / f"{g.student}.zip"
            atomic.write_bytes(path, _zip(files))
        else:
            path = Path(dest) / g.student
            for name, data in files.items():
                atomic.write_bytes(path / name, data, durable=False)
        done.written.append(path)
        if g.gone:
            done.gone.append(g.student)
    return done


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()
