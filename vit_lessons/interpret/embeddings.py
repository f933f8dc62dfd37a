"""What the embeddings learned (the paper's Figure 7): position-embedding similarity (chapter 3) and the
principal components of the patch-embedding filters (chapter 2)."""

from __future__ import annotations

import numpy as np

from ..backend import namespace, to_numpy
from ..checks import check_int
from ..config import ViTConfig, check_config
from ..embedding import patch_embed_matrix


def pos_embed_cosine(pos_embed, cfg: ViTConfig):
    """Cosine similarity between the position embeddings of every pair of patches.

    pos_embed: (T, D); the prefix (CLS) row is skipped.
    Returns S (gh, gw, gh, gw): S[i, j] is the (gh, gw) map of patch (i, j)'s similarity with every
    patch, laid out like the paper's Figure 7 (centre); S[i, j, i, j] = 1.
    """
    check_config(cfg)
    T, k = cfg.num_tokens, cfg.num_prefix_tokens
    if tuple(getattr(pos_embed, "shape", ()))[:1] != (T,) or pos_embed.ndim != 2:
        raise ValueError(f"pos_embed has shape {tuple(getattr(pos_embed, 'shape', ()))}: expected ({T}, D)")
    xp = namespace(pos_embed)
    e = pos_embed[k:, :]
    e = e / xp.linalg.vector_norm(e, axis=-1, keepdims=True)
    return xp.reshape(xp.matmul(e, e.mT), (*cfg.grid_size, *cfg.grid_size))


def patch_filter_components(weight, n: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of the patch-embedding filters (the paper's Figure 7, left).

    weight: the patch-embedding kernel (D, C, P, P).  The D filters are flattened in (P, P, C) order
    (:func:`vit_lessons.patch_embed_matrix`), centred over the D filters, and decomposed.
    Returns (components (n, P, P, C), explained variance ratio (n,)), numpy float64, components of
    unit norm, signed so that each one's largest-magnitude entry is positive.
    """
    shape = tuple(getattr(weight, "shape", ()))
    if len(shape) != 4 or shape[-1] != shape[-2]:
        raise ValueError(f"weight has shape {shape}: expected the patch-embedding kernel (D, C, P, P)")
    D, C, P, _ = shape
    limit = min(D, P * P * C)
    check_int("n", n, 1, limit, why="min of D and P*P*C")
    X = to_numpy(patch_embed_matrix(weight)).astype(np.float64)  # (D, P*P*C)
    X = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    comps = vt[:n]
    biggest = np.take_along_axis(comps, np.abs(comps).argmax(axis=1)[:, None], axis=1)
    comps = comps * np.where(biggest < 0, -1.0, 1.0)
    variance = s**2
    ratio = variance[:n] / variance.sum() if variance.sum() > 0 else np.zeros(n)
    return comps.reshape(n, P, P, C), ratio
