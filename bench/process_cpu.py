"""CPU time of `attention-kit autograde`'s processes by role, read from /proc while it runs.

The roles: the main process (collecting, records, the report), the grading lanes (the hidden
suites, the reference, the comparisons) and the sandboxes (each lane's zygote with every worker
it forked and reaped: the student's code, fork, confinement). A process is sampled until it
ends, so what it spends after the last sample (under `interval` seconds) is not counted.
Linux only: elsewhere `measure` runs the command and returns no split.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

ROLES = ("main", "lanes", "sandboxes")
_ZYGOTE = "autograder.grading.zygote"


def _stat(pid: str) -> tuple[int, int, float, float] | None:
    """(parent pid, start time, own CPU seconds, reaped children's CPU seconds) of `pid`."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    reaped = (int(fields[13]) + int(fields[14])) / tick
    return int(fields[1]), int(fields[19]), own, reaped


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def measure(
    argv: Sequence[str], interval: float = 0.25
) -> tuple[subprocess.CompletedProcess[str], dict[str, float] | None]:
    """Run `argv` to the end (stdout and stderr captured as text); with it, the CPU seconds
    of each role (None off Linux)."""
    with open(os.devnull, "rb") as null:
        out, err = _spool(), _spool()
        proc = subprocess.Popen(argv, stdin=null, stdout=out, stderr=err)
    linux = Path("/proc/self/stat").exists()
    role: dict[tuple[int, int], str] = {}  # (pid, start time) -> role, fixed at first sight
    spent: dict[tuple[int, int], float] = {}
    lanes: set[int] = set()
    while proc.poll() is None:
        if linux:
            _sample(proc.pid, role, spent, lanes)
        time.sleep(interval)
    out.seek(0)
    err.seek(0)
    done = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    out.close()
    err.close()
    if not linux:
        return done, None
    split = dict.fromkeys(ROLES, 0.0)
    for key, seconds in spent.items():
        split[role[key]] += seconds
    return done, split


def _spool() -> IO[str]:
    """A file for the command's output: a pipe left unread would block a long run."""
    return tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")


def _sample(
    main: int,
    role: dict[tuple[int, int], str],
    spent: dict[tuple[int, int], float],
    lanes: set[int],
) -> None:
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(name)
        if st is None:
            continue
        parent, start, own, reaped = st
        pid = int(name)
        key = (pid, start)
        if key not in role:
            if pid == main:
                role[key] = "main"
            elif parent == main and "multiprocessing" in _cmdline(pid):
                role[key] = "lanes"
                lanes.add(pid)
            elif parent in lanes and _ZYGOTE in _cmdline(pid):
                role[key] = "sandboxes"
            else:
                continue
        # a zygote's own time and its workers' (reaped through their intermediates)
        spent[key] = own + reaped if role[key] == "sandboxes" else own
