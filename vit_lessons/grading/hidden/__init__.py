"""The hidden cases: the exercises' own case generators, drawn with a seed the learner never sees.

Not part of the learner's bundle.  The generators (in :mod:`vit_lessons.grading.exercises`) are public,
so a learner knows which axes the hidden cases vary (the self-check draws the same kinds of case); the
values (images, token counts, widths, seeds) come from :data:`SEED`, fixed, so that a submission gets
the same cases, and the same grade, on every run.  The expected outputs come from the oracle, in the
grader's process; a learner sees a case's shapes and, for a failing case, one expected number.
"""

from __future__ import annotations

import numpy as np

from ..registry import exercise

SEED = 918_273_645_501
#: every kind of case twice (the self-check draws each once)
REPEAT = 2


def cases(name: str) -> list:
    """The hidden cases of exercise ``name``."""
    ex = exercise(name)
    return ex.cases(np.random.default_rng([SEED, ex.number]), REPEAT)
