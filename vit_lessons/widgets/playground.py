"""Chapter 4's attention playground: softmax(α Q K^T) V for a handful of tokens, to move by hand.

Each token has a 2-D query and key, which the reader drags, types or moves with the arrow keys, and a
value, a colour.  The widget shows the scores α Q K^T, the weights A = softmax over each row, and the
outputs A V (each a mix of the values' colours), with a slider for the scale α: 1, 1/sqrt(d) or any
temperature 1/α.  All of it runs in ``playground.js`` from the widget state, so it works on the static
book without a kernel; the Python side computes the same numbers with :func:`vit_lessons.softmax`
(:meth:`AttentionPlayground.weights`), and the browser tests check that the two agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..attention import softmax
from ..checks import check_number, require

anywidget, traitlets = require("anywidget"), require("traitlets")  # the "widgets" extra

_HERE = Path(__file__).parent
HEAD_DIM = 2  # the queries and keys live in a plane
EXTENT = 3.0  # the plane shows [-3, 3] x [-3, 3]
MAX_TOKENS = 6

#: name -> (queries (n, 2), keys (n, 2)): a few starting points, each making one point.
PRESETS = {
    "one key matches each query": ([[1.5, 0.5], [-1.0, 1.5], [-1.2, -1.2], [1.0, -1.5]],
                                   [[1.4, 0.6], [-0.9, 1.4], [-1.3, -1.1], [1.1, -1.4]]),
    "all keys alike (uniform weights)": ([[1.5, 0.5], [-1.0, 1.5], [-1.2, -1.2], [1.0, -1.5]],
                                         [[0.6, 0.6], [0.6, 0.6], [0.6, 0.6], [0.6, 0.6]]),
    "short vectors (soft weights)": ([[0.5, 0.2], [-0.3, 0.5], [-0.4, -0.4], [0.3, -0.5]],
                                     [[0.5, 0.2], [-0.3, 0.5], [-0.4, -0.4], [0.3, -0.5]]),
    "long vectors (a saturated softmax)": ([[2.8, 0.4], [-0.5, 2.8], [-2.6, -1.0], [1.0, -2.7]],
                                           [[2.5, 1.0], [1.0, 2.6], [-2.4, -1.4], [1.6, -2.4]]),
}
#: The values: one colour (r, g, b) in [0, 1] per token, so that an output is visibly a mix of them.
COLOURS = [[0.90, 0.30, 0.24], [0.20, 0.60, 0.86], [0.18, 0.75, 0.38], [0.95, 0.77, 0.06],
           [0.61, 0.35, 0.71], [0.10, 0.74, 0.74]]


def _matrix(name: str, value, n: int | None, width: int, low: float, high: float) -> np.ndarray:
    """``value`` as a float (n, width) array with entries in [low, high], else a ValueError naming ``name``."""
    a = np.asarray(value, dtype=np.float64) if value is not None else None
    if a is None or a.ndim != 2 or a.shape[1] != width or not 2 <= a.shape[0] <= MAX_TOKENS \
            or (n is not None and a.shape[0] != n):
        rows = f"{n}" if n is not None else f"2 to {MAX_TOKENS}"
        raise ValueError(f"{name}: expected {rows} rows of {width} numbers, got "
                         f"{None if a is None else a.shape}")
    if not np.all(np.isfinite(a)) or a.min() < low or a.max() > high:
        raise ValueError(f"{name}: expected finite numbers in [{low}, {high}], got {a.tolist()}")
    return a


class AttentionPlayground(anywidget.AnyWidget):
    """Attention for a handful of tokens with 2-D queries and keys, to move by hand.

    AttentionPlayground(queries=None, keys=None, values=None, scale=None, labels=None,
                        preset="one key matches each query")
    queries, keys: (n, 2), 2 <= n <= 6, in [-3, 3] (default: the preset's); values: (n, 3) colours in
    [0, 1]; scale: α > 0 (default 1/sqrt(d), d = 2).  They are the traits ``query_vectors``,
    ``key_vectors``, ``value_colours`` and ``scale``, which follow the reader's moves in a live kernel;
    ``selected`` is the query whose row is highlighted.
    """

    _esm = (_HERE / "playground.js").read_text(encoding="utf-8")
    _css = (_HERE / "playground.css").read_text(encoding="utf-8")

    # (``keys`` is taken: ipywidgets lists a widget's synced traits under that name)
    query_vectors = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    key_vectors = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    value_colours = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    scale = traitlets.Float(1 / math.sqrt(HEAD_DIM)).tag(sync=True)
    selected = traitlets.Int(0).tag(sync=True)
    presets = traitlets.Dict().tag(sync=True)
    head_dim = traitlets.Int(HEAD_DIM).tag(sync=True)
    extent = traitlets.Float(EXTENT).tag(sync=True)

    def __init__(self, queries=None, keys=None, values=None, *, scale: float | None = None, labels=None,
                 preset: str = "one key matches each query", **kwargs):
        if preset not in PRESETS:
            raise ValueError(f"preset={preset!r}: expected one of {sorted(PRESETS)}")
        if (queries is None) != (keys is None):
            raise ValueError("queries, keys: expected both or neither (neither: the preset's)")
        if queries is None:
            queries, keys = PRESETS[preset]
        q = _matrix("queries", queries, None, HEAD_DIM, -EXTENT, EXTENT)
        n = len(q)
        k = _matrix("keys", keys, n, HEAD_DIM, -EXTENT, EXTENT)
        v = _matrix("values", COLOURS[:n] if values is None else values, n, 3, 0.0, 1.0)
        s = 1 / math.sqrt(HEAD_DIM) if scale is None else check_number("scale", scale, 0.0, low_open=True)
        names = [f"token {i + 1}" for i in range(n)] if labels is None else [str(x) for x in labels]
        if len(names) != n:
            raise ValueError(f"labels: expected {n} names (one per token), got {len(names)}")
        super().__init__(query_vectors=q.tolist(), key_vectors=k.tolist(), value_colours=v.tolist(), scale=float(s),
                         labels=names,
                         presets={name: {"queries": qs, "keys": ks} for name, (qs, ks) in PRESETS.items()},
                         **kwargs)

    def scores(self) -> np.ndarray:
        """S = α Q K^T: (n, n), row i query i against every key."""
        return self.scale * np.asarray(self.query_vectors) @ np.asarray(self.key_vectors).T

    def weights(self) -> np.ndarray:
        """A = softmax(S) along each row (the library's softmax): (n, n), rows sum to 1."""
        return softmax(self.scores(), axis=-1)

    def output(self) -> np.ndarray:
        """A V: (n, 3), each token's output colour, its weights' mix of the values."""
        return self.weights() @ np.asarray(self.value_colours)
