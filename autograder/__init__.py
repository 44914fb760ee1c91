"""attention-kit: exercises, the student's check and the isolated autograder."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
