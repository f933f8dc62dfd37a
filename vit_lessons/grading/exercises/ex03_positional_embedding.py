"""Exercise 3 (chapter 3): positional embeddings, fixed (2-D sine-cosine) and learned (added to z_0)."""

from __future__ import annotations

import numpy as np

from ..draws import DTYPES, Draw, grid, tokens_shape
from ..mistakes import mistake
from ..oracle import stage
from ..registry import Case, Exercise, Function, chapters, register_exercise


@stage
def sincos_axis(positions, d):
    """The 1-D embedding (n, d) of integer positions: [sin(pos w_k) ..., cos(pos w_k) ...], k < d/2,
    w_k = 10000^(-k / (d/2))."""
    omega = 10000.0 ** (-np.arange(d // 2, dtype=np.float64) / (d // 2))
    angles = positions.reshape(-1, 1) * omega
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


@stage
def sincos_halves(rows, cols):
    """The row half first, then the column half."""
    return np.concatenate([rows, cols], axis=1)


def sincos(S, grid_size, dim):
    gh, gw = grid_size
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    return S.sincos_halves(S.sincos_axis(rows, dim // 2), S.sincos_axis(cols, dim // 2)).astype(np.float32)


def _cos_first(positions, d):
    e = sincos_axis(positions, d)
    return np.concatenate([e[:, d // 2:], e[:, :d // 2]], axis=1)


def _interleaved(positions, d):
    e = sincos_axis(positions, d)
    return np.stack([e[:, :d // 2], e[:, d // 2:]], axis=-1).reshape(e.shape)


def _wrong_width(positions, d):
    omega = 10000.0 ** (-np.arange(d // 2, dtype=np.float64) / d)
    angles = positions.reshape(-1, 1) * omega
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


mistake("sincos_axes_swapped", "Your first half encodes the column (the convention of MAE and big_vision); this "
        "exercise asks for the row half first: the first dim/2 features encode the patch's row, the last dim/2 "
        "its column.", sincos_halves=lambda rows, cols: np.concatenate([cols, rows], axis=1))
mistake("sin_cos_swapped", "Your halves start with the cosines: each half is the sines first, then the cosines.",
        sincos_axis=_cos_first)
mistake("sincos_interleaved", "Your sines and cosines alternate (sin, cos, sin, cos, as in the Transformer's 1-D "
        "table): each half is all its sines first, then all its cosines.", sincos_axis=_interleaved)
mistake("sincos_wrong_width", "Your frequencies are spread over the wrong width: each half (dim/2 features) has "
        "dim/4 frequencies w_k = 10000^(-k / (dim/4)).", sincos_axis=_wrong_width)

# (batched, class token, dtype): every kind, and every pair of kinds, is the only property of its own cases
ADD_KINDS = [(True, False, "float64"), (True, True, "float32"), (True, True, "float64"), (False, False, "float32"),
             (True, False, "float32"), (False, True, "float32")]
ADVICE = {("grid", "non-square"): "keep the grid's height and width apart: row r of the gh x gw grid is patch "
                                  "r * gw ... (r + 1) * gw - 1 (not int(sqrt(N)), not one size for both).",
          ("grid", "one row"): "keep the grid's height and width apart: a grid of one row has gh = 1.",
          ("cls", "with"): "with a class token, prepend it first, then add the (N + 1, D) positions.",
          ("cls", "without"): "with cls_token=None, add the (N, D) positions to the tokens as they are."}


def _sincos_cases(rng) -> list[Case]:
    out = []
    for kind in ("square", "non-square", "one row") * 2:
        d = Draw(rng, {"grid": kind})
        g = (1, d.choose([3, 5])) if kind == "one row" else grid(d, kind)
        dim = d.choose([8, 12, 16])
        out.append(Case("sincos_2d", (g, dim), f"grid {g}, dim {dim}", meta=d.meta, drawn=d.values))
    return out


def _add_cases(rng) -> list[Case]:
    out = []
    for batched, cls, dtype in ADD_KINDS:
        meta = {"batch": "batched" if batched else "unbatched", "cls": "with" if cls else "without", "dtype": dtype}
        d = Draw(rng, meta)
        N, D = d.choose([3, 4, 5]), d.choose([8, 12])  # never the batch size, nor N or N + 1
        shape = tokens_shape(d, batched, N, D)
        T = N + cls
        args = (rng.standard_normal(shape).astype(DTYPES[dtype]), rng.standard_normal((T, D)).astype(np.float32),
                rng.standard_normal(D).astype(np.float32) if cls else None)
        out.append(Case("add_positions", args, f"tokens {shape} {dtype}, pos ({T}, {D}), "
                                               f"{'cls_token' if cls else 'no cls_token'}", meta=meta, drawn=d.values))
    return out


def cases(rng, repeat: int) -> list[Case]:
    """sincos_2d on square, non-square and one-row grids; add_positions with and without a class token,
    batched or not, float32 or float64 tokens (float32 positions)."""
    return [c for _ in range(repeat) for c in (*_sincos_cases(rng), *_add_cases(rng))]


@register_exercise
def positional_embedding() -> Exercise:
    return Exercise(3, "positional_embedding",
                    functions={"sincos_2d": Function(("grid_size", "dim"), sincos,
                                                     ("sincos_axes_swapped", "sin_cos_swapped", "sincos_interleaved",
                                                      "sincos_wrong_width")),
                               "add_positions": Function(("tokens", "pos_embed", "cls_token"),
                                                         lambda S, t, pos, cls: S.add_positions(t, pos, cls),
                                                         ("no_pos_embed", "pos_before_cls"))},
                    library=chapters(1, 2), library_why="positional embeddings are this exercise", cases=cases,
                    advice=ADVICE)
