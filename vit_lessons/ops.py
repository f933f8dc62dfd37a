"""The operations every chapter shares, defined below all of them.

A reader who follows an image down the chapters (patches, embedding, attention, encoder, model,
backward) meets these in every one; they live here, imported first, so that no chapter reaches
back into an earlier one for them:

- :func:`linear`, the affine map y = x W^T + b of the patch embedding, attention, the MLP and the head;
- :func:`record`, how the forward pass notes its intermediates in one ``out`` dict as it goes
  (``forward(..., out=out)``), which the backward pass and the interpretation tools read instead
  of computing them a second time;
- :func:`bilinear_matrix`, the weights of bilinear resizing, for position embeddings (chapter 3)
  and the synthetic images' background texture (:mod:`vit_lessons.data`).
"""

from __future__ import annotations

import math

import numpy as np

from .backend import like, namespace


def linear(x, weight, bias=None):
    """y = x W^T + b (PyTorch's Linear convention).  x: (..., in), weight: (out, in), bias: (out,).

    The leading axes are folded into one so that both engines run a single 2-D matrix
    product (numpy's matmul falls back to a slow loop for stacks of transposed views).
    """
    xp = namespace(x)
    lead = x.shape[:-1]
    y = xp.matmul(xp.reshape(x, (-1, x.shape[-1])), weight.mT)
    if bias is not None:
        y += like(bias, y)  # in place: y is new, and the product's gradient does not need it
    return xp.reshape(y, (*lead, weight.shape[0]))


def record(out: dict | None, name: str, value):
    """``value``, noted as ``out[name]`` when there is an ``out`` dict (big_vision's habit).

    The forward functions pass every intermediate through this, so the one forward pass that
    computes it is also the one that hands it to the backward pass and to the figures.
    """
    if out is not None:
        out[name] = value
    return value


def bilinear_matrix(n_in: int, n_out: int, align_corners: bool = False) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation.

    align_corners=False: half-pixel centres, output o reads input (o + 1/2) n_in / n_out - 1/2
    (PyTorch's default).  align_corners=True: the end points kept, output o reads input
    o (n_in - 1) / (n_out - 1) (``scipy.ndimage.zoom(order=1)``, the original ViT code's resize).
    """
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        if align_corners:
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        m[o, i0] += 1 - frac
        m[o, i1] += frac
    return m
