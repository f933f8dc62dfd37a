"""The hidden cases: the exercises' own case generators, drawn with a seed the learner never sees.

Not part of the learner's bundle.  The generators (in :mod:`vit_lessons.grading.exercises`) are public,
so a learner knows which axes the hidden cases vary (the self-check draws the same kinds of case); the
values (images, token counts, widths, seeds) come from :data:`SEED` and from the digest of the files the
learner's process can run (:func:`vit_lessons.grading.engine.submission_digest`).  The same files get the
same cases, and the same grade, on every run and within a class; changed files get other values, so
that inputs a submission wrote into its feedback (an exception's message, its printing) are of no use to
the next one, and no two students share them unless they hand in the same files.  The expected outputs
come from the oracle, in the grader's process; a learner sees a case's shapes and, for a failing case,
no expected number.
"""

from __future__ import annotations

import numpy as np

from ..registry import HIDDEN_REPEAT, exercise

SEED = 918_273_645_501


def cases(name: str, digest: bytes = b"") -> list:
    """The hidden cases of exercise ``name`` for the submission whose files digest to ``digest``
    (``b""``: the cases of no submission in particular, as the tests draw them)."""
    ex = exercise(name)
    entropy = [SEED, ex.number] + ([int.from_bytes(digest, "big")] if digest else [])
    return ex.cases(np.random.default_rng(entropy), HIDDEN_REPEAT)
