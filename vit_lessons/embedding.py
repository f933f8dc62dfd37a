"""Chapters 2 and 3: patch embedding and positional embeddings.

z_0 = [x_class; x_p^1 E; x_p^2 E; ...; x_p^N E] + E_pos        (the paper's Eq. 1)

E is the patch-embedding matrix (stored as a convolution kernel of shape (D, C, P, P),
as timm and torchvision store it), x_class the CLS token and E_pos the positional
embedding, one row per token.
"""

from __future__ import annotations

import numpy as np

from .backend import like, namespace
from .checks import channels_first_hint, check_int, check_keys, check_pair, check_shape, check_tiling
from .config import check_images
from .ops import bilinear_matrix, linear, record
from .patches import conv_windows


def patch_embed_matrix(weight):
    """The convolution kernel (D, C, P, P) as the matrix E^T (D, P*P*C) that multiplies a
    patch flattened in (P, P, C) order (see :func:`vit_lessons.patchify`)."""
    xp = namespace(weight)
    D = weight.shape[0]
    return xp.reshape(xp.permute_dims(weight, (0, 2, 3, 1)), (D, -1))


def patch_embed(images, weight, bias, stride: int | None = None, padding: int = 0, *, out: dict | None = None):
    """The patch embedding: a convolution with kernel P, written as a matrix product.

    images: (..., H, W, C) channels last.  weight: (D, C, P, P).  bias: (D,) or None.
    Returns the tokens x_p E + b, shape (..., N, D), N = outH * outW in row-major grid order.
    stride=None (the default) with padding 0: the windows are the image's patches, and H and W must be
    multiples of P, as :func:`vit_lessons.patchify` requires (a convolution would drop the rest without
    a word).  An explicit ``stride`` (P included) or a padding asks for the convolution itself: PyTorch's
    ``conv2d``, outH = floor((H + 2 padding - P) / stride) + 1, the pixels beyond the last window unused.
    out: records ``"patches"``, the flattened windows x_p (..., N, P*P*C), and ``"patch_embed"``, the tokens.
    """
    _check_patch_embed(images, weight, bias, stride, padding)
    xp = namespace(images)
    P = weight.shape[-1]
    windows = conv_windows(images, P, P if stride is None else stride, padding)
    *lead, gh, gw, _, _, C = windows.shape
    flat = record(out, "patches", xp.reshape(windows, (*lead, gh * gw, P * P * C)))
    return record(out, "patch_embed", linear(flat, patch_embed_matrix(weight), bias))


def _check_patch_embed(images, weight, bias, stride, padding) -> None:
    check_shape("images", images, (..., "H", "W", "C"))
    shape = tuple(getattr(weight, "shape", ()))
    if len(shape) != 4 or shape[2] != shape[3] or shape[1] != images.shape[-1]:
        raise ValueError(f"weight has shape {shape}: expected (D, C, P, P) with C = {images.shape[-1]}, "
                         f"the images' channels{channels_first_hint(images.shape)}")
    if bias is not None:
        check_shape("bias", bias, (shape[0],), why="D, the kernels of weight")
    if stride is None and padding == 0:  # the patches; an explicit stride asks for conv2d's windows
        check_tiling(images.shape, shape[-1], "weight.shape", shape,
                     hint=f", or pass stride={shape[-1]} for PyTorch's conv2d, which drops them")


def prepend_cls(tokens, cls_token):
    """[x_class; tokens]: tokens (..., N, D), cls_token (D,) -> (..., N+1, D)."""
    check_shape("tokens", tokens, (..., "N", "D"))
    check_shape("cls_token", cls_token, (tokens.shape[-1],), why="D, the width of tokens")
    xp = namespace(tokens)
    cls = xp.broadcast_to(xp.reshape(cls_token, (1, -1)), (*tokens.shape[:-2], 1, tokens.shape[-1]))
    return xp.concat([cls, tokens], axis=-2)


def embed(images, params: dict, cfg, *, out: dict | None = None):
    """z_0: patch embedding, CLS token (if ``cfg.pool == "cls"``) prepended, THEN E_pos added.

    images: (H, W, C) or (B, H, W, C), the size of ``cfg.image_size``.  Returns ([B,] T, D).
    out: records what :func:`patch_embed` records and ``"embed"``, z_0.
    """
    _check_embed(images, params, cfg)
    z = patch_embed(images, params["patch_embed.weight"], params["patch_embed.bias"], cfg.stride, cfg.padding,
                    out=out)
    if cfg.pool == "cls":
        z = prepend_cls(z, params["cls_token"])
    return record(out, "embed", z + params["pos_embed"])


def _check_embed(images, params: dict, cfg) -> None:
    check_images(images, cfg)
    check_keys("params", params, "", ("pos_embed", "patch_embed.weight", "patch_embed.bias")
               + (("cls_token",) if cfg.pool == "cls" else ()))
    check_shape("params['pos_embed']", params["pos_embed"], (cfg.num_tokens, cfg.d_model),
                why="cfg.num_tokens, cfg.d_model")


# ---- fixed (sinusoidal) positional embeddings -------------------------------------------------
def sincos_1d(positions, dim: int, temperature: float = 10000.0) -> np.ndarray:
    """The Transformer's sinusoidal embedding of 1-D positions, its sines and cosines concatenated
    (as MAE does) rather than interleaved as in Vaswani et al.

    positions: (T,) numbers.  Returns (T, dim), float32: the first half sin(pos * w_k),
    the second half cos(pos * w_k), with w_k = temperature^(-k / (dim/2)), k = 0 .. dim/2 - 1.
    """
    if check_int("dim", dim, 2) % 2:
        raise ValueError(f"dim={dim}: expected an even number (half sines, half cosines)")
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 1)
    omega = temperature ** (-np.arange(dim // 2, dtype=np.float64) / (dim // 2))
    angles = pos * omega
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def sincos_2d(grid_size: tuple[int, int], dim: int, temperature: float = 10000.0) -> np.ndarray:
    """2-D sinusoidal embedding: the first half of the features encodes the row, the second half
    the column, each half a :func:`sincos_1d` of ``dim / 2`` features.

    This book puts the row half first; MAE (``np.meshgrid(grid_w, grid_h)``) puts the column half
    first, so its table is this one with its two halves swapped (a checkpoint trained with one
    convention needs that convention).  big_vision's ``posemb_sincos_2d`` (after MoCo v3) also puts
    the column half first, with w_k = temperature^(-k / (dim/4 - 1)): not exactly this table.
    Returns (gh * gw, dim) in row-major grid order, float32; ``dim`` must be a multiple of 4.
    """
    if check_int("dim", dim, 4) % 4:
        raise ValueError(f"dim={dim}: expected a multiple of 4 (sin and cos for rows and for columns)")
    gh, gw = check_pair("grid_size", grid_size, low=1, what="(gh, gw)")
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    return np.concatenate([sincos_1d(rows.ravel(), dim // 2, temperature),
                           sincos_1d(cols.ravel(), dim // 2, temperature)], axis=1)


# ---- resizing a learned grid (fine-tuning at a new resolution) ---------------------------------
def corner_linear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with the end points aligned: output o reads
    input o (n_in - 1) / (n_out - 1), as ``scipy.ndimage.zoom(order=1)`` does (the original ViT code's
    resize of the position embeddings) and ``align_corners=True`` in PyTorch."""
    return bilinear_matrix(n_in, n_out, align_corners=True)


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a`` (-0.5 for PIL's and PyTorch's antialiased
    bicubic), zero outside (-2, 2)."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def antialiased_cubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PyTorch's ``interpolate(mode="bicubic", antialias=True)`` (what timm's
    ``resample_abs_pos_embed`` calls): half-pixel centres, the cubic kernel widened by the scale when
    shrinking, each row's weights normalised to sum to 1 over the inputs inside the grid."""
    scale = n_in / n_out
    support, stretch = (2.0 * scale, 1.0 / scale) if scale >= 1 else (2.0, 1.0)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        centre = scale * (o + 0.5)
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        w = _keys_cubic((np.arange(lo, hi) - centre + 0.5) * stretch)
        m[o, lo:hi] = w / w.sum()
    return m


# how a learned grid of positions is resized: name -> the 1-D weights (n_out, n_in) used along each axis
RESIZE_CONVENTIONS = {
    "bilinear": bilinear_matrix,          # PyTorch's bilinear, align_corners=False
    "official": corner_linear_matrix,     # the original ViT code: scipy.ndimage.zoom(order=1)
    "timm": antialiased_cubic_matrix,     # timm: bicubic, antialias=True
}


def resize_pos_embed(pos_embed, old_grid: tuple[int, int], new_grid: tuple[int, int],
                     num_prefix_tokens: int = 0, convention: str = "bilinear"):
    """Interpolate a learned positional embedding to a new patch grid (fine-tuning at a new resolution).

    pos_embed: (num_prefix_tokens + gh*gw, D).  The prefix (CLS) rows are kept as they are;
    the grid rows are treated as a (gh, gw, D) image and resized to ``new_grid`` by one of
    :data:`RESIZE_CONVENTIONS`: "bilinear", the default (PyTorch's ``F.interpolate(mode="bilinear",
    align_corners=False)``: cell centres, the image's edges aligned), "official" (the paper's code,
    ``scipy.ndimage.zoom(order=1)``: linear, the corner positions aligned) or "timm"
    (``F.interpolate(mode="bicubic", antialias=True)``).  The three are different functions: resize a
    checkpoint with the convention its own code used (chapter 13 measures the difference).
    Returns (num_prefix_tokens + new_gh * new_gw, D).
    """
    if convention not in RESIZE_CONVENTIONS:
        raise ValueError(f"convention={convention!r}: expected one of {sorted(RESIZE_CONVENTIONS)}")
    (gh, gw), (nh, nw) = (check_pair(name, grid, low=1, what="(gh, gw)")
                          for name, grid in (("old_grid", old_grid), ("new_grid", new_grid)))
    check_int("num_prefix_tokens", num_prefix_tokens, 0)
    check_shape("pos_embed", pos_embed, ("T", "D"))
    xp = namespace(pos_embed)
    T, D = pos_embed.shape
    if T != num_prefix_tokens + gh * gw:
        raise ValueError(f"pos_embed has {T} rows: expected {num_prefix_tokens} + {gh}*{gw} "
                         f"for old_grid={old_grid}, num_prefix_tokens={num_prefix_tokens}")
    prefix, grid = pos_embed[:num_prefix_tokens], xp.reshape(pos_embed[num_prefix_tokens:], (gh, gw, D))
    weights = RESIZE_CONVENTIONS[convention]
    rows, cols = like(weights(gh, nh), grid), like(weights(gw, nw), grid)
    # out[a, b] = sum_ij rows[a, i] cols[b, j] grid[i, j]: resize the rows, then the columns.
    g = xp.matmul(rows, xp.reshape(grid, (gh, gw * D)))
    g = xp.permute_dims(xp.reshape(g, (nh, gw, D)), (1, 0, 2))
    g = xp.matmul(cols, xp.reshape(g, (gw, nh * D)))
    g = xp.reshape(xp.permute_dims(xp.reshape(g, (nw, nh, D)), (1, 0, 2)), (nh * nw, D))
    return xp.concat([prefix, g], axis=0)
