"""The attention explorer: click a patch, see where it attends, in Jupyter and on the static book.

All interactivity lives in ``explorer.js``, a dependency-free ES module run by anywidget; the data
(images, every layer's and head's attention, the rollout) lives in the widget's synced state.  A
static page that embeds the widget state (Jupyter Book, nbconvert) therefore keeps every in-browser
interaction without a kernel.  Python callbacks (another image, another checkpoint) are in
:func:`explorer_with_controls`, which needs a live kernel.

Attention is stored compactly, as rows of bytes with one scale per row (``quantize``/``dequantize``:
probability = scale * (byte / 255)^2, so that small weights keep their resolution), in binary traits.
What is stored depends on the size (:func:`storage`): a small model keeps every head's full matrix
(the tiny model: about 80 kB per 32x32 image); at ViT-B/16's scale (197 tokens, 12 layers x 12
heads, 5.6 M weights per image) each layer keeps the mean of its heads in full, each head only the
CLS token's row (the map of DINO's Figure 1), and the rollout in full: under 1 MB per image.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from ..attention import softmax
from ..backend import to_numpy
from ..checks import require
from ..config import ViTConfig
from ..interpret import rollout
from ..model import forward

anywidget, traitlets = require("anywidget"), require("traitlets")  # the "widgets" extra

_HERE = Path(__file__).parent
MAX_STATE_BYTES = 2_000_000  # a book page should stay well under this
IMAGE_BUDGET = 1_000_000  # embedded bytes per image above which heads keep only their CLS row
HEAD_STORAGE = ("auto", "all", "cls")


def quantize(rows) -> tuple[np.ndarray, np.ndarray]:
    """Attention rows (..., T) in [0, 1] -> (bytes (..., T) uint8, scales (...,) float32).

    Each row gets its own scale, its maximum, and its entries are stored as
    byte = round(255 sqrt(p / scale)), so p = scale (byte / 255)^2 to within scale (2 byte + 1) / (2 255^2):
    a row's largest weight is exact to 0.4%, and a weight 100 times smaller still to about 4%.  (A linear
    code, byte = round(255 p / max), rounds every weight below max / 510 to zero: on a 197-token row whose
    largest weight is 0.5, all the weights near the uniform 1/197.)
    """
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim < 1 or a.shape[-1] < 1:
        raise ValueError(f"rows: expected shape (..., T), got {a.shape}")
    if not np.all(np.isfinite(a)) or a.min(initial=0.0) < 0:
        raise ValueError("rows: expected finite non-negative attention probabilities")
    peak = a.max(axis=-1, initial=0.0)
    scales = np.where(peak > 0, peak, 1.0)
    q = np.rint(255.0 * np.sqrt(a / scales[..., None])).astype(np.uint8)
    return q, scales.astype(np.float32)


def dequantize(q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The inverse of :func:`quantize`: (..., T) uint8 and (...,) scales -> float32 (..., T)."""
    x = np.asarray(q, dtype=np.float32) / np.float32(255.0)
    return x * x * np.asarray(scales, dtype=np.float32)[..., None]


def storage(cfg: ViTConfig, heads: str = "auto") -> dict[str, int]:
    """What the explorer stores per image, in rows of T bytes (T = ``cfg.num_tokens``):

    ``head_queries`` Q (the query tokens 0 .. Q-1 whose row every head keeps: T = every head's full
    matrix; 1 = the CLS token's row only), ``heads`` (L * heads * Q rows), ``means`` (the L layers'
    mean-of-heads matrices, L * T rows, stored when the heads are not complete), ``rollout`` (T rows),
    ``rows`` (their sum).  ``heads``: "all", "cls" or "auto" ("all" when that costs at most
    :data:`IMAGE_BUDGET` embedded bytes per image).
    """
    if heads not in HEAD_STORAGE:
        raise ValueError(f"heads={heads!r}: expected one of {HEAD_STORAGE}")
    L, H, T, k = cfg.num_layers, cfg.num_heads, cfg.num_tokens, cfg.num_prefix_tokens
    full_bytes = (4 * ((L * H * T + T) * (T + 4) + 3 * cfg.image_size[0] * cfg.image_size[1])) // 3
    if heads == "auto":
        heads = "all" if full_bytes <= IMAGE_BUDGET else "cls"
    if heads == "cls" and k == 0:
        heads = "none"  # a mean-pooled model has no CLS token: each layer keeps its mean only
    q = {"all": T, "cls": k, "none": 0}[heads]
    layout = {"head_queries": q, "heads": L * H * q, "means": 0 if q == T else L * T, "rollout": T}
    layout["rows"] = layout["heads"] + layout["means"] + layout["rollout"]
    return layout


def stored_rows(attentions: np.ndarray, rolled: np.ndarray, layout: dict) -> np.ndarray:
    """The rows :func:`storage` names, per image: attentions (L, N, heads, T, T), rolled (N, T, T)
    -> (N, rows, T) float, in the order heads (layer, head, query), means (layer, query), rollout."""
    L, N, H, T, _ = attentions.shape
    q = layout["head_queries"]
    blocks = [attentions[..., :q, :].transpose(1, 0, 2, 3, 4).reshape(N, L * H * q, T)]
    if layout["means"]:
        blocks.append(attentions.mean(axis=2).transpose(1, 0, 2, 3).reshape(N, L * T, T))
    blocks.append(rolled)
    return np.concatenate(blocks, axis=1)


def _to_rgb8(images) -> np.ndarray:
    """(N, H, W, C) floats in [0, 1] (C = 1 or 3) or uint8 -> (N, H, W, 3) uint8."""
    x = to_numpy(images)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images: expected (N, H, W, C) with C = 1 or 3, got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.rint(np.clip(x.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


class AttentionExplorer(anywidget.AnyWidget):
    """Where does each patch attend?  An anywidget over a ViT's attention for a few images.

    Build it with :meth:`from_model` (runs the model) or :meth:`from_attention` (attention you
    already have).  The view traits (``image_index``, ``layer``, ``head`` (-1: mean of heads),
    ``mode`` ("attention" | "rollout"), ``direction`` ("row": where the query attends |
    "column": what attends to it), ``query`` (token index; 0 is the CLS token of a CLS model),
    ``opacity``, ``clip`` (the percentile that maps to the top colour), ``show_grid``) can be set
    from Python and follow the reader's clicks in a live kernel.
    """

    _esm = (_HERE / "explorer.js").read_text(encoding="utf-8")
    _css = (_HERE / "explorer.css").read_text(encoding="utf-8")

    # data: (N, H, W, 3) uint8 images; (N, R, T) uint8 attention rows and (N, R) float32 scales, the rows
    # that storage() names; every head keeps the rows of queries 0 .. head_queries - 1
    images = traitlets.Bytes(b"").tag(sync=True)
    attention = traitlets.Bytes(b"").tag(sync=True)
    scales = traitlets.Bytes(b"").tag(sync=True)
    head_queries = traitlets.Int(0).tag(sync=True)
    num_images = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)
    grid = traitlets.List(traitlets.Int(), default_value=[0, 0]).tag(sync=True)
    patch_size = traitlets.Int(1).tag(sync=True)
    stride = traitlets.Int(1).tag(sync=True)
    padding = traitlets.Int(0).tag(sync=True)
    num_prefix_tokens = traitlets.Int(0).tag(sync=True)
    num_layers = traitlets.Int(0).tag(sync=True)
    num_heads = traitlets.Int(0).tag(sync=True)
    image_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    captions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    # view
    image_index = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(-1).tag(sync=True)
    mode = traitlets.Enum(["attention", "rollout"], "attention").tag(sync=True)
    direction = traitlets.Enum(["row", "column"], "row").tag(sync=True)
    query = traitlets.Int(0, min=0).tag(sync=True)
    opacity = traitlets.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    clip = traitlets.Float(99.0, min=0.0, max=100.0).tag(sync=True)
    show_grid = traitlets.Bool(True).tag(sync=True)

    @classmethod
    def from_attention(cls, images, attentions, cfg: ViTConfig, *, names=None, captions=None, heads: str = "auto",
                       max_state_bytes: int = MAX_STATE_BYTES, **view) -> AttentionExplorer:
        """An explorer over attention you already have.

        images: (N, H, W, C) in [0, 1]; attentions: (L, N, heads, T, T) as returned by
        ``forward(..., return_attention=True)`` on that batch.  The rollout is computed with
        :func:`vit_lessons.interpret.rollout` (mean over heads).  ``heads``: what each head keeps
        (:func:`storage`).  ``view`` sets view traits.
        """
        widget = cls(**view)
        widget.set_data(images, attentions, cfg, names=names, captions=captions, heads=heads,
                        max_state_bytes=max_state_bytes)
        return widget

    @classmethod
    def from_model(cls, params: dict, cfg: ViTConfig, images, *, names=None, labels=None, class_names=None,
                   pixels=None, heads: str = "auto", max_state_bytes: int = MAX_STATE_BYTES,
                   **view) -> AttentionExplorer:
        """Run the model on ``images`` (N, H, W, C) (or one image (H, W, C)) and explore its attention.

        Captions show the prediction and, given ``labels`` (N,), the true class; ``class_names``
        (K,) names the classes (a model without a head has no captions).  ``pixels`` (N, H, W, 3),
        in [0, 1] or uint8, is what to draw when ``images`` are normalised model inputs (a real
        checkpoint's preprocessing).  ``heads``: what each head keeps (:func:`storage`).  ``view`` sets
        view traits, e.g. ``layer=2, head=0``.
        """
        widget = cls(**view)
        widget.update_from_model(params, cfg, images, names=names, labels=labels, class_names=class_names,
                                 pixels=pixels, heads=heads, max_state_bytes=max_state_bytes)
        return widget

    def update_from_model(self, params: dict, cfg: ViTConfig, images, *, names=None, labels=None,
                          class_names=None, pixels=None, heads: str = "auto",
                          max_state_bytes: int = MAX_STATE_BYTES) -> None:
        """Replace the explorer's data with ``params``' attention on ``images`` (see :meth:`from_model`)."""
        x = np.asarray(to_numpy(images), dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        if labels is not None and len(labels) != len(x):
            raise ValueError(f"labels: expected {len(x)} labels (one per image), got {len(labels)}")
        logits, attentions = forward(params, x, cfg, return_attention=True)
        captions = _captions(to_numpy(logits), cfg, labels, class_names)
        self.set_data(x if pixels is None else pixels, attentions, cfg, names=names, captions=captions, heads=heads,
                      max_state_bytes=max_state_bytes)

    def set_data(self, images, attentions, cfg: ViTConfig, *, names=None, captions=None, heads: str = "auto",
                 max_state_bytes: int = MAX_STATE_BYTES) -> None:
        """Replace the data (see :meth:`from_attention`); view traits are kept where still valid."""
        rgb = _to_rgb8(images)
        a = np.asarray(to_numpy(attentions), dtype=np.float32)
        n, h, w, _ = rgb.shape
        t = cfg.num_tokens
        if a.shape != (cfg.num_layers, n, cfg.num_heads, t, t):
            raise ValueError(f"attentions: expected (L, N, heads, T, T) = {(cfg.num_layers, n, cfg.num_heads, t, t)} "
                             f"for {n} images and this config, got {a.shape}")
        if (h, w) != tuple(cfg.image_size):
            raise ValueError(f"images: expected size {tuple(cfg.image_size)} (cfg.image_size), got {(h, w)}")
        names = [f"image {i + 1}" for i in range(n)] if names is None else [str(s) for s in names]
        captions = [""] * n if captions is None else [str(s) for s in captions]
        if len(names) != n or len(captions) != n:
            raise ValueError(f"names/captions: expected {n} of each (one per image), got {len(names)}, {len(captions)}")
        layout = storage(cfg, heads)
        rolled = to_numpy(rollout(a, head_fusion="mean"))  # (N, T, T)
        q, scales = quantize(stored_rows(a, rolled, layout))  # (N, R, T), (N, R)
        size = _embedded_size(rgb.nbytes, q.nbytes + scales.nbytes, names + captions)
        if size > max_state_bytes:
            raise ValueError(f"images: {n} images of this model embed about {size} bytes of widget state, more than "
                             f"max_state_bytes={max_state_bytes}; pass fewer images or raise the limit")
        with self.hold_trait_notifications():
            self.images, self.attention, self.scales = rgb.tobytes(), q.tobytes(), scales.tobytes()
            self.head_queries = layout["head_queries"]
            self.num_images, self.height, self.width = n, h, w
            self.grid = list(cfg.grid_size)
            self.patch_size, self.stride, self.padding = cfg.patch_size, cfg.stride, cfg.padding
            self.num_prefix_tokens = cfg.num_prefix_tokens
            self.num_layers, self.num_heads = cfg.num_layers, cfg.num_heads
            self.image_names, self.captions = names, captions
            self.image_index = min(max(self.image_index, 0), n - 1)
            self.layer = min(max(self.layer, 0), cfg.num_layers - 1)
            self.head = min(max(self.head, -1), cfg.num_heads - 1)
            self.query = min(max(self.query, 0), t - 1)

    def stored(self) -> dict[str, np.ndarray]:
        """The stored attention, dequantised (float32): ``heads`` (N, L, heads, Q, T), the rows of the
        queries 0 .. Q-1 (Q = ``head_queries``), ``means`` (N, L, T, T) or None when the heads are
        complete, ``rollout`` (N, T, T)."""
        n, L, H, Q = self.num_images, self.num_layers, self.num_heads, self.head_queries
        t = self.num_prefix_tokens + self.grid[0] * self.grid[1]
        q = np.frombuffer(self.attention, dtype=np.uint8).reshape(n, -1, t)
        rows = dequantize(q, np.frombuffer(self.scales, dtype=np.float32).reshape(n, -1))
        heads, rest = rows[:, :L * H * Q], rows[:, L * H * Q:]
        means = rest[:, :L * t].reshape(n, L, t, t) if Q < t else None
        return {"heads": heads.reshape(n, L, H, Q, t), "means": means, "rollout": rest[:, -t:]}

    def state_nbytes(self) -> int:
        """Bytes this widget adds to a page's embedded widget state (binary traits base64-encoded)."""
        state = {k: v for k, v in self.get_state().items() if not isinstance(v, bytes | memoryview)}
        binary = sum(len(base64.b64encode(bytes(v))) for v in self.get_state().values()
                     if isinstance(v, bytes | memoryview))
        return len(json.dumps(state)) + binary


def _captions(logits: np.ndarray, cfg: ViTConfig, labels, class_names) -> list[str]:
    """"predicted <class> (p%)[, true <class>]" per image; empty for a model without a head."""
    if cfg.num_classes == 0:
        return [""] * len(logits)
    probs = to_numpy(softmax(logits))  # (N, K)
    if class_names is not None and len(class_names) != cfg.num_classes:
        raise ValueError(f"class_names: expected {cfg.num_classes} names (one per class), got {len(class_names)}")
    name = (lambda c: class_names[c]) if class_names is not None else (lambda c: f"class {c}")
    captions = []
    for i, p in enumerate(probs):
        c = int(p.argmax())
        text = f"predicted {name(c)} ({p[c]:.0%})"
        if labels is not None:
            text += f", true {name(int(labels[i]))}"
        captions.append(text)
    return captions


def _embedded_size(image_bytes: int, binary_bytes: int, texts: list[str]) -> int:
    """Estimated embedded state: base64 of the binary traits, the names and captions, the ES module and CSS."""
    return ((4 * (image_bytes + binary_bytes)) // 3 + sum(len(t) + 4 for t in texts) + len(AttentionExplorer._esm)
            + len(AttentionExplorer._css) + 4096)


def explorer_with_controls(models: dict, images, *, labels=None, class_names=None, per_view: int = 4, **view):
    """An explorer plus Python controls (a live kernel is needed for those): choose the model and
    which ``per_view`` images of ``images`` (N, H, W, C) to show, then recompute.

    models: {name: (cfg, params)}, e.g. ``{"CLS pooling": load_pretrained("shapes-cls"), ...}``.
    Returns an ``ipywidgets.VBox`` whose last child is the :class:`AttentionExplorer`.  On a static
    page the explorer keeps every in-browser interaction; the Python controls then do nothing, and
    the note under them says so.
    """
    W = require("ipywidgets")
    if not models:
        raise ValueError("models: expected at least one {name: (cfg, params)} entry, got none")
    x = np.asarray(to_numpy(images), dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images: expected (N, H, W, C), got shape {x.shape}")
    if not 1 <= per_view <= len(x):
        raise ValueError(f"per_view: expected 1..{len(x)} (the number of images), got {per_view}")
    names = list(models)
    choose = W.Dropdown(options=names, value=names[0], description="model")
    first = W.BoundedIntText(value=0, min=0, max=len(x) - per_view, description="first image")
    button = W.Button(description="recompute", icon="refresh")
    status = W.HTML("<small>These controls run Python: in a live notebook they recompute the explorer; "
                    "on the static book page they do nothing (the explorer below still works).</small>")

    def data(name, start):
        cfg, params = models[name]
        sl = slice(start, start + per_view)
        return dict(params=params, cfg=cfg, images=x[sl], names=[f"#{i}" for i in range(sl.start, sl.stop)],
                    labels=None if labels is None else np.asarray(labels)[sl], class_names=class_names)

    def kwargs_for(d):
        return {k: d[k] for k in ("names", "labels", "class_names")}

    d = data(names[0], 0)
    explorer = AttentionExplorer.from_model(d["params"], d["cfg"], d["images"], **kwargs_for(d), **view)

    def recompute(_=None):
        d = data(choose.value, first.value)
        status.value = f"<small>computing {choose.value}, images {first.value}..{first.value + per_view - 1}</small>"
        explorer.update_from_model(d["params"], d["cfg"], d["images"], **kwargs_for(d))
        status.value = f"<small>showing {choose.value}, images {first.value}..{first.value + per_view - 1}</small>"

    button.on_click(recompute)
    choose.observe(recompute, names="value")
    return W.VBox([W.HBox([choose, first, button]), status, explorer])
