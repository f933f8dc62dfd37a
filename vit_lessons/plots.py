"""The book's figures: patch grids, attention maps, rollout, and the paper's Figure 7.

Every function draws with matplotlib and returns the ``Figure`` (it never calls ``plt.show``).
New figures are made with ``matplotlib.figure.Figure``, outside pyplot's global list, so a
notebook cell that ends with one of these calls shows it exactly once and nothing leaks.
The numbers drawn come from :mod:`vit_lessons.interpret`; nothing is computed twice.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import to_numpy
from .checks import check_int, require
from .config import ViTConfig, check_config
from .interpret import cls_attention, patch_filter_components, pos_embed_cosine, rollout, token_map
from .patches import patchify

Figure = require("matplotlib.figure").Figure
ATTENTION_CMAP = "inferno"


def _image(image) -> np.ndarray:
    """(H, W, C) numpy in [0, 1] ready for imshow (one channel shown as grey)."""
    x = to_numpy(image)
    if x.ndim != 3:
        raise ValueError(f"image has shape {x.shape}: expected one image (H, W, C), channels last")
    x = np.clip(x.astype(np.float32), 0.0, 1.0)
    return x[..., 0] if x.shape[-1] == 1 else x


def _show(ax, image) -> None:
    x = _image(image)
    ax.imshow(x, cmap="gray" if x.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def _check_patch_size(patch_size, image) -> tuple[int, int]:
    H, W = _image(image).shape[:2]
    why = f"dividing the image's {H} x {W} pixels"
    if check_int("patch_size", patch_size, 1, why=why) and (H % patch_size or W % patch_size):
        raise ValueError(f"patch_size={patch_size!r}: expected a positive int ({why})")
    return H // patch_size, W // patch_size


def patch_grid(image, patch_size: int, *, ax=None, numbers: bool = False, color: str = "white") -> Figure:
    """The image with its patch grid drawn on it (chapter 1).

    image: (H, W, C) in [0, 1].  patch_size: P, dividing H and W.
    numbers: write each patch's index in the sequence (row-major, as :func:`vit_lessons.patchify`).
    Draws gh - 1 horizontal and gw - 1 vertical lines between the patches; returns the Figure.
    """
    gh, gw = _check_patch_size(patch_size, image)
    side = max(4.0, 0.35 * max(gh, gw)) if numbers else 4.0  # room for every patch's number
    fig, ax = _figure_and_axes(ax, (side, side * gh / gw))
    _show(ax, image)
    P = patch_size
    for i in range(1, gh):
        ax.axhline(i * P - 0.5, color=color, lw=1)
    for j in range(1, gw):
        ax.axvline(j * P - 0.5, color=color, lw=1)
    if numbers:
        for n in range(gh * gw):
            i, j = divmod(n, gw)
            ax.text(j * P + P / 2 - 0.5, i * P + P / 2 - 0.5, str(n), color=color, ha="center", va="center",
                    fontsize=max(5, min(10, 120 // max(gh, gw))))
    ax.set_title(f"{gh} x {gw} = {gh * gw} patches of {P} x {P} pixels")
    return fig


def patch_strip(image, patch_size: int, n: int | None = None) -> Figure:
    """The first ``n`` patches (all by default) side by side, in sequence order: the image as a sentence.

    image: (H, W, C).  Returns a Figure with n axes, axes k showing patch k (P, P, C).
    """
    gh, gw = _check_patch_size(patch_size, image)
    N = gh * gw
    n = N if n is None else check_int("n", n, 1, N, why="the number of patches")
    x = to_numpy(image).astype(np.float32)
    P, C = patch_size, x.shape[-1]
    patches = patchify(x, P).reshape(N, P, P, C)  # flattened in (P, P, C) order, so this undoes it
    fig = Figure(figsize=(min(0.6 * n, 14.0), 1.0 + 0.3 * (n <= 20)), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for k, ax in enumerate(axes):
        _show(ax, patches[k])
        ax.set_title(str(k), fontsize=7)
    return fig


def token_matrix(image, patch_size: int, n: int | None = None) -> Figure:
    """The first ``n`` tokens of :func:`vit_lessons.patchify` as the matrix x_p, one column per token.

    image: (H, W, C).  Returns a Figure whose one image is ``patchify(image, P)[:n].T``, (P*P*C, n),
    in grey: column i is token i's P*P*C values in (P, P, C) order.
    """
    gh, gw = _check_patch_size(patch_size, image)
    n = gh * gw if n is None else check_int("n", n, 1, gh * gw, why="the number of patches")
    tokens = patchify(to_numpy(image).astype(np.float32), patch_size)[:n]
    fig, ax = _figure_and_axes(None, (min(0.15 * n + 1.5, 12.0), 2.2))
    ax.imshow(tokens.T, aspect="auto", cmap="gray", interpolation="nearest", vmin=0.0, vmax=1.0)
    ax.set_xlabel("token index i")
    ax.set_ylabel(f"{tokens.shape[1]} values")
    ax.set_title("the tokens as the matrix x_p (one column per token)")
    return fig


def _figure_and_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def attention_overlay(image, score_map, ax=None, *, alpha: float = 0.6, cmap: str = ATTENTION_CMAP,
                      title: str | None = None, vmax: float | None = None, colorbar: bool = False) -> Figure:
    """A (gh, gw) map laid over the image, each patch's value covering that patch.

    image: (H, W, C) in [0, 1].  score_map: (gh, gw), e.g. from :func:`vit_lessons.interpret.cls_attention`.
    The map's colour scale runs from 0 (or its minimum, if negative) to ``vmax`` (its maximum by default).
    Returns the Figure of ``ax`` (a new one without ``ax``); the overlay is the axes' second image.
    """
    x = _image(image)
    m = to_numpy(score_map).astype(np.float64)
    if m.ndim != 2:
        raise ValueError(f"score_map has shape {m.shape}: expected one map (gh, gw)")
    H, W = x.shape[:2]
    fig, ax = _figure_and_axes(ax, (3.0, 3.0 * H / W))
    _show(ax, x)
    top = float(m.max()) if vmax is None else vmax
    overlay = ax.imshow(m, cmap=cmap, alpha=alpha, interpolation="nearest", extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                        vmin=min(0.0, float(m.min())), vmax=top if top > min(0.0, float(m.min())) else None)
    if colorbar:
        fig.colorbar(overlay, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def attention_per_layer_head(image, attentions, cfg: ViTConfig, *, alpha: float = 0.7) -> Figure:
    """Every layer's and head's attention as maps: L rows, heads + 1 columns (the last: mean over heads).

    image: (H, W, C).  attentions: (L, heads, T, T) of this one image (e.g.
    :func:`vit_lessons.interpret.capture_attention`).  Cell (l, h) shows
    ``cls_attention(attentions, cfg, layer=l, head=h)``: the CLS row (mean-pooled model: the mean
    over patch rows), each map on its own colour scale.
    """
    check_config(cfg)
    a = to_numpy(attentions)
    L, Hh, T = cfg.num_layers, cfg.num_heads, cfg.num_tokens
    if a.shape != (L, Hh, T, T):
        raise ValueError(f"attentions has shape {a.shape}: expected (L, heads, T, T) = {(L, Hh, T, T)} for one image")
    fig = Figure(figsize=(1.6 * (Hh + 1), 1.6 * L + 0.4), layout="constrained")
    axes = fig.subplots(L, Hh + 1, squeeze=False)
    for layer in range(L):
        for h in range(Hh + 1):
            head = None if h == Hh else h
            attention_overlay(image, cls_attention(a, cfg, layer=layer, head=head), axes[layer, h], alpha=alpha)
            if layer == 0:
                axes[layer, h].set_title("mean" if head is None else f"head {h + 1}", fontsize=9)
        axes[layer, 0].set_ylabel(f"layer {layer + 1}", fontsize=9)
    what = "CLS token" if cfg.pool == "cls" else "mean over patch queries"
    fig.suptitle(f"attention of the {what} to each patch", fontsize=10)
    return fig


def rollout_vs_last_layer(image, attentions, cfg: ViTConfig, *, head_fusion: str = "mean",
                          discard_ratio: float = 0.0, gradient_map=None, alpha: float = 0.7) -> Figure:
    """The image, its last-layer attention map and its rollout map side by side (and a gradient rollout map).

    image: (H, W, C).  attentions: (L, heads, T, T) of this image.  gradient_map: an optional (gh, gw)
    map (e.g. :func:`vit_lessons.interpret.gradient_rollout`) shown as a fourth panel.
    """
    maps = {"last layer (mean of heads)": cls_attention(attentions, cfg),
            f"rollout ({head_fusion} of heads)": token_map(rollout(attentions, head_fusion, discard_ratio), cfg)}
    if gradient_map is not None:
        maps["gradient rollout"] = gradient_map
    fig = Figure(figsize=(2.8 * (len(maps) + 1), 3.0), layout="constrained")
    axes = fig.subplots(1, len(maps) + 1, squeeze=False)[0]
    _show(axes[0], image)
    axes[0].set_title("image", fontsize=9)
    for ax, (name, m) in zip(axes[1:], maps.items(), strict=True):
        attention_overlay(image, m, ax, alpha=alpha, title=name)
    return fig


def pos_embed_similarity(pos_embed, cfg: ViTConfig, *, cmap: str = "viridis") -> Figure:
    """Cosine similarity of each patch's position embedding with every other's (Figure 7, centre).

    pos_embed: (T, D); the CLS row is skipped.  A gh x gw grid of gh x gw maps: the map at grid
    position (i, j) shows patch (i, j)'s similarity with every patch (1 at its own position), on one
    colour scale from -1 to 1 (:func:`vit_lessons.interpret.pos_embed_cosine`).
    """
    S = to_numpy(pos_embed_cosine(pos_embed, cfg))
    gh, gw = cfg.grid_size
    side = min(8.0, 0.55 * max(gh, gw) + 1.0)
    fig = Figure(figsize=(side * gw / max(gh, gw) + 0.8, side * gh / max(gh, gw)), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.005, h_pad=0.005, wspace=0.0, hspace=0.0)
    axes = fig.subplots(gh, gw, squeeze=False)
    for i in range(gh):
        for j in range(gw):
            image = axes[i, j].imshow(S[i, j], cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(str(i + 1), fontsize=7, rotation=0, labelpad=6)
    for j in range(gw):
        axes[-1, j].set_xlabel(str(j + 1), fontsize=7)
    fig.supxlabel("input patch column", fontsize=9)
    fig.supylabel("input patch row", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    fig.suptitle("position embedding similarity", fontsize=10)
    return fig


def patch_filter_pcs(weight, n: int = 28, *, ncols: int = 7) -> Figure:
    """The first ``n`` principal components of the patch-embedding filters, as RGB patches (Figure 7, left).

    weight: the kernel (D, C, P, P) (``params["patch_embed.weight"]``).  Each component
    (:func:`vit_lessons.interpret.patch_filter_components`) is rescaled to [0, 1] on its own (its minimum
    to 0, its maximum to 1) and shown as a P x P patch, C = 3 in colour (C = 1 in grey).
    """
    comps, ratio = patch_filter_components(weight, n)
    rows = math.ceil(n / ncols)
    fig = Figure(figsize=(1.0 * min(n, ncols), 1.0 * rows + 0.5), layout="constrained")
    for k in range(n):
        ax = fig.add_subplot(rows, min(n, ncols), k + 1)
        c = comps[k]
        span = c.max() - c.min()
        _show(ax, (c - c.min()) / span if span > 0 else np.zeros_like(c))
    fig.suptitle(f"first {n} principal components of the patch-embedding filters "
                 f"({100 * ratio.sum():.0f}% of their variance)", fontsize=9)
    return fig


# ---- concept diagrams (chapters 4 and 5), drawn from a config: every number on them is the config's ----
# Colours of lines and categories, the Okabe-Ito palette: told apart with every common colour-vision
# deficiency (no red-green pair), and in a different grey each.
LINE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
# Signed values (an embedding's features, a difference): one luminance ramp, readable in greyscale.
SIGNED_CMAP = "cividis"


def _box(ax, x, y, w, h, text, *, face="white", fontsize=9):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=face, edgecolor="0.2", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, **style):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.2", lw=1.2, **style))


def encoder_block_diagram(cfg: ViTConfig) -> Figure:
    """The pre-LN encoder block of ``cfg`` (Eqs. 2 and 3 of the paper), bottom to top, with its shapes.

    Two sub-layers, each reading a LayerNorm'd copy of the stream and adding its result back onto it:
    LN -> multi-head attention -> (+), then LN -> MLP (D -> F -> D, GELU) -> (+).  The residual
    stream runs up the left, touched only by the two additions.  T, D, F, the heads, d and epsilon
    are read from ``cfg``.
    """
    check_config(cfg)
    from matplotlib.patches import Circle

    T, D, F, k, d = cfg.num_tokens, cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.head_dim
    fig, ax = _figure_and_axes(None, (5.6, 6.6))
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, 10.6)
    stream, branch = 2.0, 6.4
    ax.plot([stream, stream], [0.4, 9.6], color="0.2", lw=2.2)  # the residual stream
    ax.text(stream - 0.25, 5.0, "residual stream", rotation=90, ha="right", va="center", fontsize=8, color="0.3")
    _box(ax, stream, 0.0, 3.2, 0.7, f"z_(l-1)   ({T}, {D})", face="#f0f0f0")
    _box(ax, stream, 10.0, 3.2, 0.7, f"z_l   ({T}, {D})", face="#f0f0f0")
    layers = [(1.4, f"LayerNorm  (eps = {cfg.ln_eps:g})", LINE_COLOURS[4]),
              (2.7, f"multi-head attention\n{k} heads of d = {d}", LINE_COLOURS[0]),
              (5.4, f"LayerNorm  (eps = {cfg.ln_eps:g})", LINE_COLOURS[4]),
              (6.9, f"MLP  {D} -> {F} -> {D}\nGELU between", LINE_COLOURS[1])]
    for y, text, colour in layers:
        _box(ax, branch, y, 4.6, 0.9 if "\n" in text else 0.6, text, face=colour + "40", fontsize=8.5)
    for (y0, *_), (y1, *_) in ((layers[0], layers[1]), (layers[2], layers[3])):
        _arrow(ax, (branch, y0 + 0.3), (branch, y1 - 0.45))
    for y_from, y_add, y_read, label in ((2.7, 4.0, 0.8, "z'_l = z_(l-1) + MSA(LN(z_(l-1)))   (2)"),
                                         (6.9, 8.4, 4.6, "z_l = z'_l + MLP(LN(z'_l))   (3)")):
        ax.annotate("", xy=(branch, layers[0 if y_read < 1 else 2][0] - 0.3), xytext=(stream, y_read),
                    arrowprops=dict(arrowstyle="->", color="0.2", lw=1.2, connectionstyle="angle,angleA=0,angleB=90"))
        ax.annotate("", xy=(stream + 0.25, y_add), xytext=(branch, y_from + 0.45),
                    arrowprops=dict(arrowstyle="->", color="0.2", lw=1.2, connectionstyle="angle,angleA=90,angleB=0"))
        ax.add_patch(Circle((stream, y_add), 0.25, facecolor="white", edgecolor="0.2", lw=1.2, zorder=3))
        ax.text(stream, y_add, "+", ha="center", va="center", fontsize=11, zorder=4)
        ax.text(stream + 0.4, y_add + 0.35, label, fontsize=7.5, color="0.25")
    ax.set_title(f"{cfg.name or 'the'} pre-LN encoder block: T = {T} tokens of D = {D}", fontsize=10)
    return fig


def heads_diagram(cfg: ViTConfig) -> Figure:
    """How multi-head attention splits the D features into heads and merges them back (chapter 4).

    Top: q (and k, v alike), (T, D), cut along the features into ``num_heads`` blocks of d = D / heads.
    Middle: each head's own (T, T) attention A_h = softmax(q_h k_h^T / sqrt(d)) and output A_h v_h, (T, d).
    Bottom: the outputs concatenated back to (T, heads * d) = (T, D), then mixed by U_msa (D, D).
    Every number is read from ``cfg``; one colour per head (viridis: distinct in greyscale too).
    """
    check_config(cfg)
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    T, D, k, d = cfg.num_tokens, cfg.d_model, cfg.num_heads, cfg.head_dim
    colours = colormaps["viridis"](np.linspace(0.15, 0.95, k))
    fig, ax = _figure_and_axes(None, (7.2, 5.0))
    ax.set_axis_off()
    ax.set_xlim(-1.8, 10.4)
    ax.set_ylim(-0.8, 7.6)
    width = 9.0 / k
    for h in range(k):
        x = h * width
        ax.add_patch(Rectangle((x, 6.0), width, 0.8, facecolor=colours[h], edgecolor="white"))
        if k <= 8 or h in (0, k - 1):  # feature ranges where they fit
            ax.text(x + width / 2, 6.4, f"{h * d}..{(h + 1) * d - 1}", ha="center", va="center",
                    fontsize=7 if k <= 8 else 5.5, color="white" if h < k / 2 else "black")
        side = min(0.8 * width, 1.3)
        ax.add_patch(Rectangle((x + (width - side) / 2, 3.2), side, side, facecolor=colours[h], alpha=0.55,
                               edgecolor="0.2"))
        ax.text(x + width / 2, 3.2 + side / 2, f"A_{h + 1}", ha="center", va="center", fontsize=8)
        _arrow(ax, (x + width / 2, 5.95), (x + width / 2, 3.25 + side))
        _arrow(ax, (x + width / 2, 3.15), (x + width / 2, 1.55))
        ax.add_patch(Rectangle((x, 0.7), width, 0.8, facecolor=colours[h], edgecolor="white"))
    ax.text(-0.2, 6.4, f"q, k, v\n({T}, {D})", ha="right", va="center", fontsize=8.5)
    ax.text(-0.2, 3.2 + min(0.8 * width, 1.3) / 2, f"per head\n({T}, {T})", ha="right", va="center", fontsize=8.5)
    ax.text(-0.2, 1.1, f"A_h v_h, concat\n({T}, {k} x {d})", ha="right", va="center", fontsize=8.5)
    ax.text(4.5, 7.25, f"split the D = {D} features into {k} heads of d = D / {k} = {d}", ha="center", fontsize=9)
    ax.text(4.5, -0.3, f"merge: concatenate back to ({T}, {D}), then x U_msa ({D}, {D})", ha="center", fontsize=9)
    ax.set_title(f"{cfg.name or 'multi-head attention'}: {k} heads", fontsize=10)
    return fig
