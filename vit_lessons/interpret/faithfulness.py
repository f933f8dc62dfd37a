"""Chapter 9, how far the maps can be trusted: scored against the synthetic shapes' ground-truth masks.

map (gh, gw) and object mask (H, W)  ->  which patches are on the object  ->  pointing game, mass on the object

:func:`faithfulness` scores the last-layer map, rollout and gradient rollout of a model on a
:class:`vit_lessons.data.Shapes` batch, next to the "uniform" map that knows nothing.  Results are numpy.
"""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..checks import check_int, check_number
from ..config import ViTConfig, check_config
from ..patches import conv_windows
from .maps import attention_gradients, cls_attention, gradient_weighted_rollout, rollout, token_map


def patch_coverage(object_mask, cfg: ViTConfig):
    """The fraction of each patch's pixels that are object pixels.

    object_mask: (..., H, W) bool.  Returns (..., gh, gw) float32 numpy, over the windows the patch
    embedding sees (``cfg``'s patch size, stride and padding; padding counts as background).
    """
    check_config(cfg)
    m = to_numpy(object_mask)
    if m.dtype != bool or m.ndim < 2 or tuple(m.shape[-2:]) != tuple(cfg.image_size):
        raise ValueError(f"object_mask has shape {m.shape} and dtype {m.dtype}: expected bool (..., H, W) "
                         f"with (H, W) = {tuple(cfg.image_size)}")
    return _coverage(m, cfg.patch_size, cfg.stride, cfg.padding)


def _coverage(mask: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    windows = conv_windows(mask[..., None].astype(np.float32), kernel, stride, padding)  # (..., gh, gw, k, k, 1)
    return windows.mean(axis=(-3, -2, -1))


def object_patches(object_mask, cfg: ViTConfig, min_overlap: float = 0.5) -> np.ndarray:
    """Which patches are "on the object": at least ``min_overlap`` of the patch's pixels are object pixels.

    object_mask: (..., H, W) bool.  Returns (..., gh, gw) bool numpy.
    """
    check_config(cfg)
    _check_overlap(min_overlap)
    return patch_coverage(object_mask, cfg) >= min_overlap


def _check_overlap(min_overlap) -> None:
    check_number("min_overlap", min_overlap, 0.0, 1.0, low_open=True)


def _on_object(score_map: np.ndarray, object_mask, min_overlap: float) -> np.ndarray:
    """The patch-level object mask (..., gh, gw) for a score map (..., gh, gw)."""
    _check_overlap(min_overlap)
    m = to_numpy(object_mask)
    if m.dtype != bool:
        raise ValueError(f"object_mask has dtype {m.dtype}: expected bool")
    grid = score_map.shape[-2:]
    if m.shape[-2:] == grid:
        return m
    if m.ndim < 2 or m.shape[-2] % grid[0] or m.shape[-1] % grid[1] or m.shape[-2] // grid[0] != m.shape[-1] // grid[1]:
        raise ValueError(f"object_mask has shape {m.shape}: expected the score map's grid {grid} (a patch mask) or a "
                         f"pixel mask tiled by {grid[0]} x {grid[1]} square patches; for other patch layouts use "
                         f"object_patches(mask, cfg) first")
    P = m.shape[-2] // grid[0]
    return _coverage(m, P, P, 0) >= min_overlap


def _maps(score_map) -> np.ndarray:
    s = to_numpy(score_map)
    if s.ndim < 2:
        raise ValueError(f"score_map has shape {s.shape}: expected (..., gh, gw)")
    return s


def pointing_game(score_map, object_mask, min_overlap: float = 0.5):
    """Does the highest-scoring patch lie on the object?

    score_map: (..., gh, gw).  object_mask: (..., gh, gw) bool patch mask (True = on the object), or
    a (..., H, W) bool pixel mask cut into square patches of H / gh pixels, a patch being on the object
    when at least ``min_overlap`` of its pixels are (see :func:`object_patches`).
    Returns a bool (a bool array (...,) for a batch of maps).  Ties: the first patch in row-major order.
    """
    s = _maps(score_map)
    on = _on_object(s, object_mask, min_overlap)
    flat_s = s.reshape(*s.shape[:-2], -1)
    flat_on = np.broadcast_to(on, s.shape).reshape(flat_s.shape)
    hit = np.take_along_axis(flat_on, np.argmax(flat_s, axis=-1)[..., None], axis=-1)[..., 0]
    return bool(hit) if hit.ndim == 0 else hit


def mass_on_object(score_map, object_mask, min_overlap: float = 0.5):
    """The share of a map's mass on the object patches: sum over object patches / sum over all.

    Arguments as :func:`pointing_game`; scores must be non-negative.  Returns a float (an array
    (...,) for a batch); NaN for a map of zeros.
    """
    s = _maps(score_map).astype(np.float64)
    if (s < 0).any():
        raise ValueError("score_map: expected non-negative values (attention mass)")
    on = _on_object(s, object_mask, min_overlap)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (s * on).sum(axis=(-2, -1)) / s.sum(axis=(-2, -1))
    return float(share) if share.ndim == 0 else share


def faithfulness(params: dict, cfg: ViTConfig, shapes_data, *, min_overlap: float = 0.5,
                 discard_ratio: float = 0.0, target: str = "label", batch_size: int = 128) -> dict:
    """How well each map finds the object, on images with ground-truth object masks.

    shapes_data: a :class:`vit_lessons.data.Shapes` (images (N, H, W, C), labels (N,), masks (N, H, W)).
    A patch is on the object when at least ``min_overlap`` of its pixels are (see :func:`object_patches`);
    images whose object has no such patch are left out (counted in ``"skipped"``).
    Methods: ``"cls_attention"`` (last layer, mean over heads), ``"rollout"`` (head mean, ``discard_ratio``),
    ``"gradient_rollout"`` (for the true class with ``target="label"``, the predicted one with
    ``"predicted"``); for a mean-pooled model the maps are means over patch rows (see :func:`token_map`),
    and ``"rollout_without_self"`` / ``"gradient_rollout_without_self"`` are the same two rollouts read
    with each token's own share left out (``token_map(..., exclude_self=True)``; for a CLS model they
    equal the plain ones).
    ``"uniform"`` is a map that knows nothing: a random patch hits the object with probability = the
    fraction of patches on the object, and a flat map puts that same share of its mass on it.
    Returns {method: {"pointing": accuracy, "mass": mean share of mass on the object}, ...,
    "images": images scored, "skipped": images left out, "accuracy": the model's accuracy on them}.
    """
    images, labels, masks = (getattr(shapes_data, k, None) for k in ("images", "labels", "masks"))
    if images is None or labels is None or masks is None:
        raise ValueError(f"shapes_data is a {type(shapes_data).__name__}: expected vit_lessons.data.Shapes "
                         f"(with images, labels and masks)")
    if not len(images) == len(labels) == len(masks):
        raise ValueError(f"shapes_data: images, labels and masks have lengths {len(images)}, {len(labels)}, "
                         f"{len(masks)}: expected one of each per image")
    if target not in ("label", "predicted"):
        raise ValueError(f"target={target!r}: expected 'label' or 'predicted'")
    check_int("batch_size", batch_size, 1)
    on = object_patches(np.asarray(masks), cfg, min_overlap)  # (N, gh, gw)
    scored = np.flatnonzero(on.any(axis=(-2, -1)))
    names = ("cls_attention", "rollout", "gradient_rollout", "rollout_without_self", "gradient_rollout_without_self")
    maps = {name: [] for name in names}
    correct = 0
    for start in range(0, len(scored), batch_size):
        idx = scored[start:start + batch_size]
        logits, a, g = attention_gradients(params, np.asarray(images[idx], dtype=np.float32), cfg,
                                           target=labels[idx] if target == "label" else None)
        correct += int((logits.argmax(-1) == labels[idx]).sum())
        maps["cls_attention"].append(cls_attention(a, cfg))
        rolled, weighted = rollout(a, "mean", discard_ratio), gradient_weighted_rollout(a, g, discard_ratio)
        for name, matrix in (("rollout", rolled), ("gradient_rollout", weighted)):
            maps[name].append(token_map(matrix, cfg))
            maps[f"{name}_without_self"].append(token_map(matrix, cfg, exclude_self=True))
    on = on[scored]
    result = {}
    for name in names:
        m = np.concatenate(maps[name]) if maps[name] else np.zeros((0, *cfg.grid_size))
        result[name] = {"pointing": float(np.mean(pointing_game(m, on))) if len(m) else float("nan"),
                        "mass": float(np.mean(mass_on_object(m, on))) if len(m) else float("nan")}
    share = float(on.mean()) if len(on) else float("nan")
    result["uniform"] = {"pointing": share, "mass": share}
    result.update(images=len(scored), skipped=len(labels) - len(scored),
                  accuracy=correct / len(scored) if len(scored) else float("nan"))
    return result
