"""attention-kit's instructor package: the grading pipeline, the hidden suites, the notebooks'
courses and the commands that build what students receive. It grades with the student package
(learner), which never imports it."""

from learner import ROOT

__all__ = ["ROOT"]
