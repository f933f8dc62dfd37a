"""Exercise 3 (chapter 3): positional embeddings, fixed (2-D sine-cosine) and learned (added to z_0).

Allowed: numpy, torch, the library's chapters 1-2 (``vit_lessons.patchify``, ``patch_embed``,
``patch_embed_matrix``) and ``vit_lessons.linear``.
Not allowed: the library's later functions (``vit_lessons.sincos_1d``, ``sincos_2d``, ``embed``, ``prepend_cls``
...): they are this exercise.
"""

import numpy as np  # noqa: F401


def sincos_2d(grid_size, dim):
    """2-D sine-cosine positional embedding, the row half first (this book's convention).

    grid_size: (gh, gw); dim: a multiple of 4.  Returns (gh*gw, dim) in float32 (another dtype fails the
    test), rows in row-major grid order.  The first dim/2 features encode the patch's row r, the last dim/2
    its column c (MAE puts the column half first: the same table with its halves swapped);
    each half is [sin(pos * w_k) for k < dim/4] followed by [cos(pos * w_k) for k < dim/4],
    w_k = 10000^(-k / (dim/4)).

    Example: ``sincos_2d((2, 3), 8)`` is (6, 8); its row 4 (r=1, c=1) starts with sin(1 * w_0) = 0.841.
    """
    raise NotImplementedError(
        "Exercise 3: 1-D embedding (sin half, cos half) of the rows and of the columns")


def add_positions(tokens, pos_embed, cls_token=None):
    """z_0 = [x_class; tokens] + E_pos: prepend the class token (if given) FIRST, then add the positions.

    tokens: (N, D) or (B, N, D); pos_embed: (T, D) with T = N (no class token) or N + 1;
    cls_token: (D,) or None.  Returns (T, D) or (B, T, D) in the dtype of ``tokens`` (float32 or float64;
    another dtype fails the test); pos_embed and cls_token are float32: cast them.

    Example: tokens (4, 8), cls_token (8,), pos_embed (5, 8) -> (5, 8), row 0 = cls_token + pos_embed[0].
    """
    raise NotImplementedError(
        "Exercise 3: concatenate the class token before the tokens, then add pos_embed")
