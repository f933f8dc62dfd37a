"""Exercise 6 (chapter 6): pooling the final tokens into one vector per image.

Allowed: numpy, torch, the library's chapters 1-5 (``vit_lessons.layer_norm`` ...).  Not allowed: the
library's later functions (``vit_lessons.pool``, ``head``, ``forward`` ...): pooling is this exercise.
"""

import numpy as np  # noqa: F401


def pool(x, mode, num_prefix_tokens=0):
    """One vector per image from the encoder's final tokens.

    x: (T, D) or (B, T, D), the tokens after the final LayerNorm; the first ``num_prefix_tokens`` rows are
    the class token (1 for a CLS model, 0 for a mean-pooled one).
    mode: ``"cls"`` returns token 0; ``"mean"`` returns the mean over the patch tokens only (the rows after
    the prefix).  Returns (D,) or (B, D) (a batch of one image too: (1, D)), in the dtype of ``x`` (float32
    or float64; another dtype fails the test).

    Example: x (5, 8): ``pool(x, "cls", 1)`` = x[0]; ``pool(x, "mean", 1)`` = x[1:].mean(axis=0);
    ``pool(x, "mean")`` = x.mean(axis=0).
    """
    # BEGIN SOLUTION hint: tokens are axis -2; cls: x[..., 0, :]; mean: x[..., prefix:, :].mean(-2)
    if mode == "cls":
        return x[..., 0, :]
    return x[..., num_prefix_tokens:, :].mean(axis=-2)
    # END SOLUTION
