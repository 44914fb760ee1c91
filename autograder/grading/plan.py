"""The plan of one submission seed: the request frames the hidden suites send to a submission
that answers everything right, recorded by grading the reference solutions in the grader's own
process (they are the kit's code, not a student's). A worker is sent its plan at once and
answers it back to back, so a submission costs one round trip rather than a hundred.

The self-test (grader.py) still grades the reference in a real sandbox, once per lane; the plan
of each submission seed is only recorded here, which costs the reference's own compute.
"""

from __future__ import annotations

import collections
import io
from typing import Any

import numpy as np

from .. import ROOT, manifest
from . import protocol, suite
from .isolate import RecordingChannel
from .model import Submission
from .student import Student
from .worker import Missing, Session

KEPT = 4  # plans kept, most recent first: a lane's regrades of the same bytes reuse theirs


class ReferenceChannel:
    """Answers request frames with the reference solutions, in this process, as a worker would
    (the same Session code), without the off-limits watch the reference never needs."""

    def __init__(self, ref: suite.Reference) -> None:
        def resolve(module: str, name: str) -> Any:
            try:
                return getattr(ref, name)
            except AttributeError:
                raise Missing(f"the reference has no {name}") from None

        self.session = Session(resolve)

    def request(self, frame: bytes, timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        data, arrays = protocol.read_frame(_reader(frame))
        data["offlimits"] = []
        return protocol.read_frame(_reader(self.session.handle(data, arrays)))


def _reader(frame: bytes) -> Any:
    stream = io.BytesIO(frame)

    def read_exact(n: int) -> bytes:
        data = stream.read(n)
        if len(data) < n:
            raise EOFError
        return data

    return read_exact


class Plans:
    """Plans by seed, recorded on demand; the last KEPT are kept."""

    def __init__(self, checks: list[suite.Check], ref: suite.Reference, student_args: Any) -> None:
        self.checks, self.ref = checks, ref
        self.locate, self.offlimits, self.timeout = student_args
        self.kept: collections.OrderedDict[int, list[bytes]] = collections.OrderedDict()
        self.reference = Submission(
            "reference", ROOT / "solutions", dict.fromkeys(manifest.modules(), "")
        )

    def put(self, seed: int, frames: list[bytes]) -> None:
        self.kept[seed] = frames
        self.kept.move_to_end(seed)
        while len(self.kept) > KEPT:
            self.kept.popitem(last=False)

    def get(self, seed: int) -> list[bytes]:
        if seed not in self.kept:
            channel = RecordingChannel(ReferenceChannel(self.ref))  # type: ignore[arg-type]
            student = Student(channel, self.locate, self.offlimits, timeout=self.timeout)
            suite.run_submission(self.reference, student, self.checks, self.ref, seed)
            self.put(seed, channel.frames)
        self.kept.move_to_end(seed)
        return self.kept[seed]
