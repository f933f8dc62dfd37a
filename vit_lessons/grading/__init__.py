"""Graded exercises: the learner's self-check, the grader, its diagnostics and Gradescope output.

- :func:`check` (``python -m vit_lessons.grading check NAME``): the public tests of one exercise.
- ``python -m vit_lessons.grade``: the hidden tests of every exercise, a table and results.json.
- ``python -m vit_lessons.grading.make_stubs``: the stubs in ``exercises/`` from ``solutions/``.
- ``python -m vit_lessons.release OUT_DIR``: the learner's bundle (no solutions, no hidden tests).
"""

from .selfcheck import check, run_check
from .spec import EXERCISES

__all__ = ["EXERCISES", "check", "run_check"]
