"""Exercise 4 (chapter 4): scaled dot-product attention and multi-head self-attention.

Allowed: numpy, torch, a softmax (``vit_lessons.softmax``, ``torch.softmax``, ``scipy.special.softmax``), the
library's chapters 1-3 (``vit_lessons.patchify``, ``patch_embed``, ``sincos_2d``, ``prepend_cls`` ...) and
``vit_lessons.linear``.  Not allowed: ``torch.nn.functional.scaled_dot_product_attention``,
``torch.nn.MultiheadAttention``, ``torch.nn.functional.multi_head_attention_forward`` and the library's other
functions (``vit_lessons.scaled_dot_product_attention``, ``multi_head_attention``, ``split_heads``,
``merge_heads`` ...): they are this exercise.
"""

import math  # noqa: F401

import numpy as np  # noqa: F401


def scaled_dot_product_attention(q, k, v):
    """softmax(Q K^T / sqrt(d)) V.

    q: (..., Tq, d), k: (..., Tk, d), v: (..., Tk, dv), any number of leading axes (heads, batch), float32 or
    float64; the scores may be large (subtract each row's maximum before exp).
    Returns (output (..., Tq, dv), probabilities A (..., Tq, Tk)), each row of A summing to 1 over the keys,
    both in the dtype of ``q`` (float32 or float64; another dtype fails the test).

    Example: q, k, v of shape (2, 5, 4) (2 heads, 5 tokens, d = 4) -> output (2, 5, 4), A (2, 5, 5).
    """
    raise NotImplementedError(
        "Exercise 4: scores = q @ k^T / sqrt(d); softmax over the keys (last axis); A @ v")


def multi_head_attention(x, params, num_heads):
    """Multi-head self-attention MSA(x).

    x: (T, D) or (B, T, D).  params: ``"q.weight"``, ``"k.weight"``, ``"v.weight"``, ``"proj.weight"`` (D, D)
    and the matching ``".bias"`` (D,); linear layers are y = x W^T + b.  Head h takes the features
    h*d .. (h+1)*d - 1 of the projections, d = D / num_heads.
    Returns (output (..., T, D), probabilities (..., num_heads, T, T)), both in the dtype of ``x`` (float32
    or float64; another dtype fails the test); the parameters are float32: cast them.

    Example: x (5, 8), num_heads 2 -> output (5, 8), probabilities (2, 5, 5).  The parameters of block i of a
    model: ``{k[len(f"blocks.{i}.attn."):]: v for k, v in params.items() if k.startswith(f"blocks.{i}.attn.")}``.
    """
    raise NotImplementedError(
        "Exercise 4: project; (..., T, D) -> (..., T, heads, d) -> (..., heads, T, d); attend; undo")
