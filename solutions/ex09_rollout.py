"""Exercise 9 (chapter 9): attention rollout (Abnar & Zuidema, 2020).

Allowed: numpy, torch, the library's chapters 1-7 (``vit_lessons.forward`` ...).  Not allowed:
``vit_lessons.interpret`` and the library's other later functions: attention rollout is this exercise.
"""

import numpy as np  # noqa: F401


def rollout(attentions):
    """How much the class token's final state draws on each patch, through all the layers.

    attentions: (L, heads, T, T), the attention probabilities of a class-token model, layer 0 first
    (as ``vit_lessons.forward(..., return_attention=True)`` returns them for one image).
    Per layer: average the heads, A_hat = 0.5 A + 0.5 I, re-normalise every row to sum 1.
    Multiply the layers with the LATER layer on the left: R = A_hat_{L-1} ... A_hat_1 A_hat_0.
    Returns R[0, 1:], the class token's row over the N = T - 1 patch tokens, shape (N,), in the dtype of
    ``attentions`` (float32 or float64; another dtype fails the test).

    Example: attentions (2, 2, 5, 5) -> (4,); with uniform attention (every entry 1/5) the four entries are
    equal (chapter 9's first try-it question asks what they are).
    """
    # BEGIN SOLUTION hint: R = I; per layer: mean over heads, (A + I) / 2, rows sum to 1, R = A @ R
    T = attentions.shape[-1]
    eye = np.eye(T, dtype=attentions.dtype)
    R = eye
    for layer in attentions:
        A = 0.5 * layer.mean(axis=0) + 0.5 * eye
        R = (A / A.sum(axis=-1, keepdims=True)) @ R
    return R[0, 1:]
    # END SOLUTION
