"""Graded exercises: the learner's self-check, the grader, its diagnostics and Gradescope output.

- :func:`check` (``python -m vit_lessons.grading check NAME``): the public tests of one exercise.
- ``python -m vit_lessons.grade``: the hidden tests of every exercise, a table and results.json.
- ``python -m vit_lessons.grading.make_stubs``: the stubs in ``exercises/`` from ``solutions/``.
- ``python -m vit_lessons.release OUT_DIR``: the learner's bundle (no solutions, no hidden tests).
- ``python -m vit_lessons.grading.provision``: a grading machine prepared as root (the sandbox users).

Where the learner's code runs: :mod:`.staging` (the copied submission, the library with the exercise's
forbidden functions stubbed), :mod:`.isolation` (the sandbox user and bubblewrap), :mod:`.sandbox` (one
exercise's process, its limits, what it sends back through :mod:`.protocol`), ``_child.py`` (the learner's
side) with ``deny_torch.py``.
"""

from . import exercises  # noqa: F401 - registers every exercise
from .registry import EXERCISES, case_mistakes, named_mistakes
from .selfcheck import check, run_check

__all__ = ["EXERCISES", "case_mistakes", "check", "named_mistakes", "run_check"]
