"""attention-kit's student package: what the student bundle holds, copied as it is.

make check, watch, hint and reset, the notebooks' visible checks, the public tests and their
fixtures, the mistake catalogue, the off-limits scans and the comparisons they share. It never
imports the instructor package (autograder), which grades with it.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The student's commands: `make <name>` runs `python -m learner.<name>` (each with its own main).
COMMANDS = {
    "check": "check your exercises, the first failing one explained (make check)",
    "watch": "check the exercise you edit on every save (make watch)",
    "hint": "the next hint for an exercise (make hint)",
    "reset": "put one exercise back to its stub, after asking (make reset)",
}
