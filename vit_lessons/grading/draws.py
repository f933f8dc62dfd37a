"""Random inputs for the exercises' case generators: grids, widths, images and parameters.

Each generator draws from the ``rng`` it is given (public seed for the self-check, secret seed for the
grader), so the public and the hidden cases differ in their values only, never in the axes they vary.

Every structural choice (grid sizes and orientation, heads, head widths, layers, batch sizes, channels,
patch sizes, d_ff ratios, token counts, widths) is made by :func:`pick` from a short list of choices.  In the
public draw (inside :func:`public_draw`) ``pick`` does not draw at random: at each call site it takes the
choice used least so far there (the first of them on a tie), so the self-check's one draw of each kind of
case takes every value that the hidden draws (random) can take at that site; ``tests/test_grading_hints.py``
records every pick (:func:`recording`) and checks it for every exercise.  A :class:`Draw` also records one
case's structural values that a learner's code may get wrong alone (a batch of one, the channels, the patch
size, d_ff, the number of heads or layers, a grid of one row) by name in the case's ``drawn``, so that a hint
can tell when the failing tests are also exactly those with one of them.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

import vit_lessons as V

DTYPES = {"float32": np.float32, "float64": np.float64}
#: the seeds of init_params are drawn below this: many, so that no hidden parameters are a public case's
SEEDS = 1_000_000

#: site -> how often each choice was taken there, in the public draw under way (per thread: contextvars)
_CYCLE: ContextVar[dict | None] = ContextVar("public_draw", default=None)
#: (site, choice) of every pick, while :func:`recording`
_LOG: ContextVar[list | None] = ContextVar("pick_log", default=None)
_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCES = (os.path.join(_HERE, "draws.py"), os.path.join(_HERE, "exercises") + os.sep)


def _site() -> tuple[tuple[str, int], ...]:
    """Where a pick is made: (file, line) of every frame of the generators that led to it (this module and
    the exercises' definitions), so that one helper called from two places is two sites."""
    frame, path = sys._getframe(2), []
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_SOURCES):
        path.append((os.path.basename(frame.f_code.co_filename), frame.f_lineno))
        frame = frame.f_back
    return tuple(path)


def pick(rng: np.random.Generator, choices: Sequence, kind: dict | None = None):
    """One of ``choices``: drawn by ``rng``; in the public draw, the one least used so far at this site,
    and among those the one least used with the case's ``kind`` (its meta), so that drawn values do not
    follow the kinds (the first of them on a tie)."""
    choices = list(choices)
    cycle, log = _CYCLE.get(), _LOG.get()
    site = _site() if cycle is not None or log is not None else ()
    if cycle is None:
        value = choices[int(rng.integers(len(choices)))]
    else:
        used = cycle.setdefault(site, Counter())
        items = sorted((kind or {}).items())
        value = min(choices, key=lambda c: (used[repr(c)] > 0, sum(used[item, repr(c)] for item in items),
                                            used[repr(c)]))
        used.update([repr(value), *((item, repr(value)) for item in items)])
    if log is not None:
        log.append((site, repr(value)))
    return value


@contextmanager
def public_draw() -> Iterator[None]:
    """Within: :func:`pick` cycles through its choices at every site (the self-check's one draw)."""
    token = _CYCLE.set({})
    try:
        yield
    finally:
        _CYCLE.reset(token)


@contextmanager
def recording() -> Iterator[list[tuple[tuple, str]]]:
    """Within: every pick's (site, repr(choice)) is appended to the list yielded."""
    log: list = []
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


class Draw:
    """The structural values of one case of the kind ``meta``: :meth:`pick` draws one and records it by
    name in ``values`` (the case's ``drawn``); :meth:`choose` draws one without recording it."""

    def __init__(self, rng: np.random.Generator, meta: dict | None = None):
        self.rng, self.meta = rng, dict(meta or {})
        self.values: dict[str, str] = {}

    def pick(self, name: str, choices: Sequence, label: Callable = str):
        value = pick(self.rng, choices, self.meta)
        self.values[name] = label(value)
        return value

    def choose(self, choices: Sequence):
        return pick(self.rng, choices, self.meta)


def grid(d: Draw, kind: str) -> tuple[int, int]:
    """A patch grid (gh, gw) of the ``kind`` "square", "non-square" (wide or tall) or "one patch"; a
    non-square grid of one row or column is recorded as ``grid`` "1 x n", another as "m x n"."""
    if kind == "one patch":
        return 1, 1
    if kind == "square":
        g = d.choose([2, 3])
        return g, g
    short, long = d.pick("grid", [(1, 3), (2, 3)], lambda sides: "1 x n" if sides[0] == 1 else "m x n")
    return (short, long) if d.choose(["wide", "tall"]) == "wide" else (long, short)


#: token counts of the blocks' inputs: never a batch size, a number of heads or a width D (3, 4, 5, 12, 15
#: or 20)
TOKENS = [7, 11]


def heads_and_width(d: Draw, kind: str) -> tuple[int, int]:
    """(num_heads, D): one head, or 3 or 4 (never a batch size), of width d >= 3 (a LayerNorm over 2 features
    leaves only signs) and d != num_heads (so that no wrong scale is right)."""
    heads = 1 if kind == "one" else d.pick("heads", [3, 4])
    width = d.choose([w for w in (3, 4, 5) if w != heads])
    return heads, heads * width


def channels(d: Draw, kind: str) -> int:
    """One channel, or 2 or 3 (RGB); recorded as ``channels``."""
    return 1 if kind == "one" else d.pick("channels", [2, 3])


def mlp_width(d: Draw, D: int, ratios: Sequence[str]) -> int:
    """d_ff for a model of width D: one of ``ratios`` ("D/2", "D", "2D", "4D"), recorded as ``d_ff``."""
    return {"D/2": D // 2 or 1, "D": D, "2D": 2 * D, "4D": 4 * D}[d.pick("d_ff", ratios)]


def image(rng: np.random.Generator, H: int, W: int, C: int, dtype: str) -> np.ndarray:
    return rng.random((H, W, C)).astype(DTYPES[dtype])


def config(H=4, W=4, C=3, P=2, D=8, heads=2, F=16, L=1, K=3, pool="cls") -> V.ViTConfig:
    return V.ViTConfig(image_size=(H, W), channels=C, patch_size=P, d_model=D, num_heads=heads, d_ff=F,
                       num_layers=L, num_classes=K, pool=pool)


def block_params(rng: np.random.Generator, D: int, heads: int, F: int, dtype=np.float32) -> dict:
    """The parameters of one encoder block (without the ``blocks.0.`` prefix), drawn by ``init_params``."""
    params = V.init_params(config(D=D, heads=heads, F=F), int(rng.integers(SEEDS)))
    return {k[len("blocks.0."):]: v.astype(dtype) for k, v in params.items() if k.startswith("blocks.0.")}


#: batch sizes: 1 (which np.squeeze drops) and 2, never a token count or a width of the same case (the
#: generators draw those from other values), so that code reading one axis for another fails
BATCHES = [1, 2]


def tokens_shape(d: Draw, batched: bool, T: int, D: int) -> tuple[int, ...]:
    """(T, D), or (B, T, D) with a batch of 1 or 2 (recorded as ``batch``)."""
    return (d.pick("batch", BATCHES), T, D) if batched else (T, D)


def indivisible_cases(rng: np.random.Generator, func: str, make) -> list:
    """Two cases of ``func`` that must raise ValueError: an image whose height, then one whose width, the
    patch size does not divide.  ``make(image, P)`` -> (the call's arguments, how its label starts)."""
    from .registry import Case

    out = []
    for side in ("H", "W"):
        d = Draw(rng)
        P = pick(rng, [3, 4])
        gh, gw = grid(d, "square")
        extra = 1 if pick(rng, ["1", "P - 1"]) == "1" else P - 1
        H, W = (gh * P + extra, gw * P) if side == "H" else (gh * P, gw * P + extra)
        args, label = make(image(rng, H, W, 3, "float32"), P)
        out.append(Case(func, args, f"{label}: {side} is not a multiple of {P}", expect_error="ValueError",
                        meta={"error": "ValueError"}))
    return out
