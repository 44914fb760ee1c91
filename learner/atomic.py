"""Replace a file in one step: write a temporary file beside it, flush it to disk, rename it over
the old one. A reader sees the old file or the new one, never half of either; a run killed
midway leaves at most a `.<name>.*.tmp` beside it."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """durable=False skips the flush to disk: for files written again from the gradebook on
    every run (a power cut may leave one stale, never half-written for a reader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str, *, mode: int = 0o644, durable: bool = True) -> None:
    """`text` as UTF-8, newlines as they are."""
    write_bytes(path, text.encode("utf-8"), mode=mode, durable=durable)
