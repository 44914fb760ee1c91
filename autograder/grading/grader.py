"""Grade submissions with the hidden suites: the reference and the checks stay here, each
submission's code runs in its own sandboxed worker forked from the zygote."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Any

from learner import manifest

from .. import ROOT
from . import suite
from .isolate import RecordingChannel, SandboxChannel, Zygote
from .memo import Remembered
from .model import Graded, Submission
from .seeding import submission_seed
from .student import BUDGET, Student


class Grader:
    """Loads the suites and the reference once, then grades one submission per call."""

    def __init__(
        self,
        run_seed: int,
        timeout: float = 10.0,
        budget: float | None = BUDGET,
        zygote: Zygote | None = None,
    ) -> None:
        """`timeout`: seconds for one call into a submission's code; `budget`: seconds for a
        whole submission, after which its remaining checks score 0 (None: no limit); `zygote`:
        one started already (it is this grader's to close), else one is started here."""
        import torch

        # The checks' tensors are tiny: a thread pool only adds wake-up latency, and with the
        # workers busy on the other cores each parallel region waits a scheduler tick.
        torch.set_num_threads(1)
        self.run_seed, self.timeout, self.budget = run_seed, timeout, budget
        self.checks = suite.discover()
        problems = suite.validate(self.checks)
        if problems:
            raise RuntimeError("hidden suites do not match exercises.toml:\n" + "\n".join(problems))
        self.exercises = manifest.by_id()
        self.ref = suite.Reference()
        self.scans = StaticScans()
        self.zygote = zygote if zygote is not None else Zygote()
        gc.freeze()  # torch's many long-lived objects: keep full collections from walking them
        self.requests = self._self_test()  # what the reference was sent (bench.offlimits_watch)

    @property
    def mode(self) -> str:
        return self.zygote.mode

    def _locate(self, exercise: str) -> tuple[str, str]:
        return self.exercises[exercise].module, exercise

    def _offlimits(self, exercise: str) -> tuple[str, ...]:
        return self.exercises[exercise].offlimits

    def _self_test(self) -> list[bytes]:
        """Grade the reference solutions first: they must get full marks with this seed. Returns
        the request frames they were sent."""
        sources = {m: (ROOT / "solutions" / f"{m}.py").read_text() for m in manifest.modules()}
        channel = RecordingChannel(SandboxChannel(self.zygote, 0, sources))
        student = Student(channel, self._locate, self._offlimits, timeout=self.timeout)
        reference = Submission("reference", ROOT / "solutions", sources, "reference")
        try:
            graded = suite.run_submission(
                reference, student, self.checks, self.ref, self.run_seed, self.scans
            )
        finally:
            channel.inner.stop()
        lost = [f"{c.name}: {c.message}" for c in graded.checks if not c.passed]
        if lost or graded.errors:
            raise RuntimeError(
                f"the reference solutions do not get full marks with seed {self.run_seed}:\n"
                + "\n".join([*lost, *graded.errors][:10])
            )
        return channel.frames

    def grade(self, submission: Submission, lane: int = 0) -> Graded:
        # Its own hidden inputs: new ones for new bytes, the same ones for a regrade of these
        seed = submission_seed(self.run_seed, submission.digest)
        ref = Remembered(self.ref)  # a reference result two checks ask for is computed once
        channel = SandboxChannel(self.zygote, lane, submission.sources, budget=self.budget)
        student = Student(channel, self._locate, self._offlimits, timeout=self.timeout)
        try:
            graded = suite.run_submission(
                submission,
                student,
                self.checks,
                ref,  # type: ignore[arg-type]
                seed,
                self.scans,
            )
        finally:
            channel.stop()
        if channel.broken:  # tampering with the record of calls: no off-limits check stands
            graded.checks = [
                replace(c, points=0.0, message=channel.broken)
                if self.exercises[c.exercise].offlimits and c.points
                else c
                for c in graded.checks
            ]
        return graded

    def close(self) -> None:
        self.zygote.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def evasion_message(exercise: str, evasions: list[str]) -> str:
    where = "; ".join(evasions[:3]) + (
        f"; and {len(evasions) - 3} more" if len(evasions) > 3 else ""
    )
    return (
        f"{exercise} scores 0: {where}. Code like this could switch off or go around the check "
        "for off-limits calls, and no exercise needs it; while your files hold it, every "
        "exercise with off-limits calls scores 0"
    )


SCANS_KEPT = 4096


class StaticScans:
    """The static scans of one run (`scans(submission, exercise)`): off-limits calls visible in
    the source (the worker also watches them at run time), and code anywhere in the submission
    that could hide such a call from the worker's watch.

    What a scan found is kept by the digest of the source it read: a class's submissions share
    many identical modules (untouched stubs, the same starting code), each scanned once."""

    def __init__(self, kept: int = SCANS_KEPT) -> None:
        self.kept = kept
        self.found: dict[tuple[str, ...], Any] = {}

    def __call__(self, submission: Submission, exercise: manifest.Exercise) -> str | None:
        if not exercise.offlimits:
            return None
        from learner import evasion, offlimits

        evasions = self._evasions(submission) if set(exercise.offlimits) & evasion.GUARDED else []
        if evasions:
            return evasion_message(exercise.id, evasions)
        source = submission.sources.get(exercise.module, "")

        def violations() -> list[str] | None:
            try:
                return offlimits.static_violations(source, [exercise.id], exercise.offlimits)
            except SyntaxError:
                return None  # the worker reports the syntax error itself

        found = self._remembered("offlimits", source, violations, exercise.id, *exercise.offlimits)
        if not found:
            return None
        where = "; ".join(found[:3])
        return f"off-limits in {exercise.id}: {where}: write it yourself; this exercise scores 0"

    def _remembered(self, kind: str, source: str, scan: Callable[[], Any], *extra: str) -> Any:
        """scan(), or what it returned before for the same kind, source bytes and `extra`."""
        key = (kind, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest(), *extra)
        if key not in self.found:
            if len(self.found) >= self.kept:
                self.found.pop(next(iter(self.found)))  # the oldest
            self.found[key] = scan()
        return self.found[key]

    def _evasions(self, submission: Submission) -> list[str]:
        """evasion.scan of the whole submission, module by module (scan's own order)."""
        from learner import evasion

        found: list[str] = []
        for module, source in submission.sources.items():
            scan = lambda m=module, s=source: evasion.scan({m: s})  # noqa: E731
            found += self._remembered("evasion", source, scan, module)
        return found


def static_scan(submission: Submission, exercise: manifest.Exercise) -> str | None:
    """One submission's static scan, outside a run (a Grader keeps its run's StaticScans)."""
    return StaticScans()(submission, exercise)
