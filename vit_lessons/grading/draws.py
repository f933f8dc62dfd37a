"""Random inputs for the exercises' case generators: grids, widths, images and parameters.

Each generator draws from the ``rng`` it is given (public seed for the self-check, secret seed for the
grader), so the public and the hidden cases differ in their values only, never in the axes they vary.
"""

from __future__ import annotations

import numpy as np

import vit_lessons as V

DTYPES = {"float32": np.float32, "float64": np.float64}


def pick(rng: np.random.Generator, choices):
    """One of ``choices`` (a sequence), drawn by ``rng``."""
    return choices[int(rng.integers(len(choices)))]


def grid(rng: np.random.Generator, kind: str) -> tuple[int, int]:
    """A patch grid (gh, gw) of the ``kind`` "square", "non-square" or "one patch"."""
    if kind == "one patch":
        return 1, 1
    if kind == "square":
        g = int(rng.integers(2, 4))
        return g, g
    gh, gw = (int(n) for n in rng.choice([1, 2, 3, 4], size=2, replace=False))
    return gh, gw


def heads_and_width(rng: np.random.Generator, kind: str) -> tuple[int, int]:
    """(num_heads, D): one head, or several of width d != num_heads (so that no wrong scale is right)."""
    heads = 1 if kind == "one" else int(rng.integers(2, 5))
    d = pick(rng, [w for w in (2, 3, 4, 5) if w != heads])
    return heads, heads * d


def image(rng: np.random.Generator, H: int, W: int, C: int, dtype: str) -> np.ndarray:
    return rng.random((H, W, C)).astype(DTYPES[dtype])


def config(H=4, W=4, C=3, P=2, D=8, heads=2, F=16, L=1, K=3, pool="cls") -> V.ViTConfig:
    return V.ViTConfig(image_size=(H, W), channels=C, patch_size=P, d_model=D, num_heads=heads, d_ff=F,
                       num_layers=L, num_classes=K, pool=pool)


def block_params(rng: np.random.Generator, D: int, heads: int, F: int, dtype=np.float32) -> dict:
    """The parameters of one encoder block (without the ``blocks.0.`` prefix), drawn by ``init_params``."""
    params = V.init_params(config(D=D, heads=heads, F=F), int(rng.integers(1000)))
    return {k[len("blocks.0."):]: v.astype(dtype) for k, v in params.items() if k.startswith("blocks.0.")}


def tokens_shape(batched: bool, rng: np.random.Generator, T: int, D: int) -> tuple[int, ...]:
    return (int(rng.integers(2, 4)), T, D) if batched else (T, D)


def indivisible_cases(rng: np.random.Generator, func: str, make) -> list:
    """Two cases of ``func`` that must raise ValueError: an image whose height, then one whose width, the
    patch size does not divide.  ``make(image, P)`` -> (the call's arguments, how its label starts)."""
    from .registry import Case

    out = []
    for side in ("H", "W"):
        P = pick(rng, [2, 3, 4])
        gh, gw = grid(rng, "square")
        extra = int(rng.integers(1, P))
        H, W = (gh * P + extra, gw * P) if side == "H" else (gh * P, gw * P + extra)
        args, label = make(image(rng, H, W, 3, "float32"), P)
        out.append(Case(func, args, f"{label}: {side} is not a multiple of {P}", expect_error="ValueError",
                        meta={"error": "ValueError"}))
    return out
