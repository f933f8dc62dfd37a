"""Chapter 9: looking inside a trained ViT, and measuring how much the pictures can be trusted.

attention A_l (L, heads, T, T)  ->  last-layer CLS row            -> (gh, gw) map
                                ->  rollout  A_hat_L ... A_hat_1  -> CLS row -> (gh, gw) map
A_l and dy/dA_l                 ->  gradient rollout               -> (gh, gw) map
map                             ->  DINO mask, pointing game, mass on the object (ground truth: vit_lessons.data)

Attention rollout (Abnar & Zuidema, 2020) treats each layer as mixing its input tokens: the
residual connection keeps half of every token (A_hat = 0.5 A + 0.5 I, rows re-normalised) and
layers compose by matrix product, later layers on the left.  Gradient rollout (in the spirit of
Chefer et al., 2021) first weights each layer's attention by the gradient of the target logit
with respect to that same attention, keeping only positive contributions.

A map is read off for a CLS model from the CLS token's row (its patch columns); a mean-pooled
model has no CLS token and its output is the mean of all patch tokens, so its map is the mean
over the patch rows.  Maps are (gh, gw) = ``cfg.grid_size``, which need not be square.

Everything but :func:`attention_gradients` (torch autograd) and the scoring functions (numpy
results) runs on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

import numpy as np

from .backend import device, is_torch, like, namespace, to_numpy
from .config import ViTConfig
from .embedding import patch_embed_matrix
from .model import check_images, check_params, forward, forward_steps
from .patches import conv_windows

HEAD_FUSIONS = ("mean", "max", "min")


# ---- capture -------------------------------------------------------------------------------------
def capture_attention(params: dict, images, cfg: ViTConfig) -> np.ndarray:
    """Every layer's and head's attention probabilities, as numpy.

    images: (H, W, C) or (B, H, W, C), channels last (numpy or torch).
    Returns (L, heads, T, T) for one image, (L, B, heads, T, T) for a batch; row i of a matrix
    is where query token i takes its values from (it sums to 1).
    """
    _, attentions = forward(params, images, cfg, return_attention=True)
    return to_numpy(attentions)


def _stacked(attentions):
    """A list of per-layer arrays, or an already stacked array, as one (L, ...) array."""
    if isinstance(attentions, (list, tuple)):
        if not attentions:
            raise ValueError("attentions is empty: expected at least one layer")
        return namespace(*attentions).stack(list(attentions), axis=0)
    return attentions


def _check_square(name: str, a, min_ndim: int, layout: str) -> None:
    shape = tuple(getattr(a, "shape", ()))
    if len(shape) < min_ndim or shape[-1] != shape[-2]:
        raise ValueError(f"{name} has shape {shape}: expected {layout}")


# ---- rollout -------------------------------------------------------------------------------------
def fuse_heads(attentions, head_fusion: str = "mean"):
    """One matrix per layer from the heads' matrices: their mean, or element-wise max or min.

    attentions: (..., heads, T, T) -> (..., T, T).
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion={head_fusion!r}: expected one of {HEAD_FUSIONS}")
    xp = namespace(attentions)
    return getattr(xp, head_fusion)(attentions, axis=-3)


def discard_lowest(matrices, discard_ratio: float):
    """Set the lowest ``discard_ratio`` fraction of each matrix's off-diagonal entries to zero.

    matrices: (..., T, T).  Of the T (T - 1) off-diagonal entries of each matrix, the
    floor(discard_ratio * T (T - 1)) smallest are zeroed (ties: the earlier entry in row-major
    order goes first).  The diagonal is never discarded: it holds the CLS token's attention to
    itself, the one entry the reference implementation (vit-explain) protects, and every other
    token's attention to itself, which the residual term of A_hat stands for anyway.  Rows are not
    re-normalised here (:func:`rollout` does that).
    """
    if not (isinstance(discard_ratio, (int, float)) and 0.0 <= discard_ratio <= 1.0):
        raise ValueError(f"discard_ratio={discard_ratio!r}: expected a number in [0, 1]")
    xp = namespace(matrices)
    *lead, T, _ = matrices.shape
    k = int(discard_ratio * T * (T - 1))
    if k == 0:
        return matrices
    diagonal = xp.eye(T, dtype=xp.bool, device=device(matrices))
    ranked = xp.reshape(xp.where(diagonal, xp.inf, matrices), (*lead, T * T))  # the diagonal ranks last
    ranks = xp.argsort(xp.argsort(ranked, axis=-1, stable=True), axis=-1, stable=True)
    keep = xp.reshape(ranks >= k, (*lead, T, T))
    return xp.where(keep, matrices, xp.zeros_like(matrices))


def rollout(attentions, head_fusion: str = "mean", discard_ratio: float = 0.0):
    """Attention rollout (Abnar & Zuidema, 2020).

    attentions: (L, ..., heads, T, T), e.g. ``forward(..., return_attention=True)``'s second
        output (a list of L arrays (..., heads, T, T) also works).
    head_fusion: how each layer's heads become one matrix A_l (see :func:`fuse_heads`).
    discard_ratio: fraction of each A_l's smallest off-diagonal entries set to zero first
        (see :func:`discard_lowest`); 0 keeps everything.
    Returns R = A_hat_L ... A_hat_2 A_hat_1, shape (..., T, T), with A_hat_l = 0.5 A_l + 0.5 I and
    each row of A_hat_l divided by its sum.  Row i of R: how much token i at the output is made of
    each input token; every row sums to 1.  :func:`token_map` turns R into a patch-grid map.
    """
    a = _stacked(attentions)
    _check_square("attentions", a, 4, "(L, ..., heads, T, T)")
    xp = namespace(a)
    fused = discard_lowest(fuse_heads(a, head_fusion), discard_ratio)  # (L, ..., T, T)
    eye = xp.eye(fused.shape[-1], dtype=fused.dtype, device=device(fused))
    a_hat = 0.5 * fused + 0.5 * eye  # the residual stream keeps half of each token
    a_hat = a_hat / xp.sum(a_hat, axis=-1, keepdims=True)
    result = a_hat[0, ...]
    for layer in range(1, a_hat.shape[0]):
        result = xp.matmul(a_hat[layer, ...], result)  # later layers on the left
    return result


def token_map(matrix, cfg: ViTConfig):
    """A token-to-token matrix read as a map over the patch grid.

    matrix: (..., T, T), e.g. one layer's attention or a rollout.
    Returns (..., gh, gw) with (gh, gw) = ``cfg.grid_size``:
    - a CLS model: the CLS token's row, patch columns only (what the CLS token takes from each
      patch; its share of itself is left out, so the map sums to less than 1);
    - a mean-pooled model (no CLS token; the output is the mean of the patch tokens): the mean over
      the patch rows, i.e. what the pooled output takes from each patch (the map sums to 1 when
      the rows do).
    """
    T, k = cfg.num_tokens, cfg.num_prefix_tokens
    shape = tuple(getattr(matrix, "shape", ()))
    if len(shape) < 2 or shape[-2:] != (T, T):
        raise ValueError(f"matrix has shape {shape}: expected (..., {T}, {T}) for this config (T = num_tokens)")
    xp = namespace(matrix)
    row = matrix[..., 0, k:] if cfg.pool == "cls" else xp.mean(matrix[..., k:, k:], axis=-2)
    return xp.reshape(row, (*shape[:-2], *cfg.grid_size))


def cls_attention(attentions, cfg: ViTConfig, layer: int = -1, head: int | None = None):
    """One layer's attention as a patch-grid map (by default the last layer, mean over heads).

    attentions: (L, ..., heads, T, T).  layer: index into L (negative counts from the end).
    head: one head, or None for the mean over heads.
    Returns (..., gh, gw): the CLS row (a mean-pooled model: the mean over patch rows), see :func:`token_map`.
    """
    a = _stacked(attentions)
    _check_square("attentions", a, 4, "(L, ..., heads, T, T)")
    L, H = a.shape[0], a.shape[-3]
    if isinstance(layer, bool) or not isinstance(layer, int) or not -L <= layer < L:
        raise ValueError(f"layer={layer!r}: expected an int in [{-L}, {L})")
    a = a[layer, ...]
    if head is None:
        return token_map(fuse_heads(a, "mean"), cfg)
    if isinstance(head, bool) or not isinstance(head, int) or not -H <= head < H:
        raise ValueError(f"head={head!r}: expected None or an int in [{-H}, {H})")
    return token_map(a[..., head, :, :], cfg)


# ---- gradient rollout ----------------------------------------------------------------------------
def attention_gradients(params: dict, images, cfg: ViTConfig, target=None):
    """Each layer's attention A_l and the gradient d y_target / d A_l of the target logit (torch autograd).

    images: (H, W, C) or (B, H, W, C), numpy or torch.  target: None (each image's predicted class),
    an int class, or (B,) ints, one per image.
    Returns (logits (..., K), attentions (L, ..., heads, T, T), gradients (L, ..., heads, T, T)),
    numpy for numpy images, detached torch tensors for torch images.  gradients[l] pairs with
    attentions[l]: the blocks' own attention tensors are differentiated, not a stacked copy of them
    (the stack ``forward`` returns sits outside the graph, its gradient would be zero).  In a batch
    each image's gradient is that of its own logit (the images do not interact).
    """
    import torch

    check_images(images, cfg)
    check_params(params, cfg)
    x = images.detach().clone() if is_torch(images) else torch.tensor(np.asarray(images))
    x.requires_grad_(True)  # so that every attention matrix is part of the graph
    p = {k: like(v, x).detach() for k, v in params.items()}
    with torch.enable_grad():
        logits, attentions = forward_steps(p, x, cfg)
        chosen = _targets(target, logits, cfg)
        score = torch.sum(torch.take_along_dim(logits, chosen[..., None], dim=-1))
        gradients = torch.autograd.grad(score, attentions)
    out = (logits.detach(), torch.stack(attentions).detach(), torch.stack(gradients))
    return out if is_torch(images) else tuple(to_numpy(t) for t in out)


def _targets(target, logits, cfg: ViTConfig):
    import torch

    if target is None:
        return torch.argmax(logits.detach(), dim=-1)
    t = torch.as_tensor(to_numpy(target) if is_torch(target) else np.asarray(target), device=logits.device)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.shape not in ((), logits.shape[:-1]):
        raise ValueError(f"target={target!r}: expected None, an int class or one int class per image "
                         f"(shape {tuple(logits.shape[:-1])})")
    if bool(torch.any((t < 0) | (t >= cfg.num_classes))):
        raise ValueError(f"target={target!r}: expected classes in [0, {cfg.num_classes})")
    return torch.broadcast_to(t, logits.shape[:-1]).to(torch.int64)


def gradient_weighted_rollout(attentions, gradients, discard_ratio: float = 0.0):
    """Rollout of the gradient-weighted attention: R from max(A_l * dy/dA_l, 0) averaged over heads.

    attentions, gradients: (L, ..., heads, T, T), layer l of one paired with layer l of the other.
    Returns (..., T, T) as :func:`rollout` (every row sums to 1).  The weighted matrices are small
    (gradients are), so A_hat is close to I and R is close to I plus the sum over layers of the
    weighted attention.  A CLS model's map leaves the identity's share out (the CLS token's own
    column); a mean-pooled model's map, the mean over patch rows, keeps it: a uniform 1/N per patch
    on which the gradient signal sits, so that map points at the right patch but its mass on the
    object stays near the uniform share.
    """
    a, g = _stacked(attentions), _stacked(gradients)
    if tuple(a.shape) != tuple(g.shape):
        raise ValueError(f"gradients has shape {tuple(g.shape)}: expected the shape of attentions {tuple(a.shape)}")
    xp = namespace(a)
    return rollout(xp.clip(a * g, min=0.0), "mean", discard_ratio)


def gradient_rollout(params: dict, images, cfg: ViTConfig, target=None, discard_ratio: float = 0.0):
    """Gradient-weighted attention rollout as a patch-grid map.

    images: (H, W, C) or (B, H, W, C).  target: None (predicted class), an int, or (B,) ints.
    Returns (gh, gw) or (B, gh, gw), numpy for numpy images (see :func:`attention_gradients`,
    :func:`gradient_weighted_rollout` and :func:`token_map`).
    """
    _, attentions, gradients = attention_gradients(params, images, cfg, target)
    return token_map(gradient_weighted_rollout(attentions, gradients, discard_ratio), cfg)


# ---- masks and scores ----------------------------------------------------------------------------
def dino_mask(scores, fraction: float = 0.6):
    """The smallest set of positions holding at least ``fraction`` of the mass (as DINO's figures).

    scores: (..., gh, gw) non-negative; each map (last two axes) is treated on its own.
    Returns a bool array of the same shape: the highest scores, taken in decreasing order until
    their sum reaches fraction * (the map's sum).  Ties at the boundary: the earlier position in
    row-major order is taken first.  A map of zeros gives an empty mask.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction <= 1.0):
        raise ValueError(f"fraction={fraction!r}: expected a number in (0, 1]")
    shape = tuple(getattr(scores, "shape", ()))
    if len(shape) < 2:
        raise ValueError(f"scores has shape {shape}: expected (..., gh, gw)")
    xp = namespace(scores)
    if bool(xp.any(scores < 0)):
        raise ValueError("scores: expected non-negative values (attention mass)")
    flat = xp.reshape(scores, (*shape[:-2], shape[-2] * shape[-1]))
    order = xp.argsort(flat, axis=-1, descending=True, stable=True)
    running = xp.cumulative_sum(xp.sort(flat, axis=-1, descending=True), axis=-1)
    total = running[..., -1:]
    # positions needed = 1 + how many partial sums still fall short (1e-6 of slack for rounding)
    short = xp.sum(xp.astype(running < fraction * total * (1 - 1e-6), xp.int64), axis=-1, keepdims=True)
    needed = xp.where(total > 0, xp.minimum(short + 1, xp.full_like(short, flat.shape[-1])), xp.zeros_like(short))
    rank = xp.argsort(order, axis=-1, stable=True)  # each position's place in the decreasing order
    return xp.reshape(rank < needed, shape)


def patch_coverage(object_mask, cfg: ViTConfig):
    """The fraction of each patch's pixels that are object pixels.

    object_mask: (..., H, W) bool.  Returns (..., gh, gw) float32 numpy, over the windows the patch
    embedding sees (``cfg``'s patch size, stride and padding; padding counts as background).
    """
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
    _check_overlap(min_overlap)
    return patch_coverage(object_mask, cfg) >= min_overlap


def _check_overlap(min_overlap) -> None:
    if not (isinstance(min_overlap, (int, float)) and 0.0 < min_overlap <= 1.0):
        raise ValueError(f"min_overlap={min_overlap!r}: expected a number in (0, 1]")


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
    ``"predicted"``); for a mean-pooled model the maps are means over patch rows (see :func:`token_map`).
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
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive int")
    on = object_patches(np.asarray(masks), cfg, min_overlap)  # (N, gh, gw)
    scored = np.flatnonzero(on.any(axis=(-2, -1)))
    names = ("cls_attention", "rollout", "gradient_rollout")
    maps = {name: [] for name in names}
    correct = 0
    for start in range(0, len(scored), batch_size):
        idx = scored[start:start + batch_size]
        logits, a, g = attention_gradients(params, np.asarray(images[idx], dtype=np.float32), cfg,
                                           target=labels[idx] if target == "label" else None)
        correct += int((logits.argmax(-1) == labels[idx]).sum())
        maps["cls_attention"].append(cls_attention(a, cfg))
        maps["rollout"].append(token_map(rollout(a, "mean", discard_ratio), cfg))
        maps["gradient_rollout"].append(token_map(gradient_weighted_rollout(a, g, discard_ratio), cfg))
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


# ---- what the embeddings learned (the paper's Figure 7) --------------------------------------------
def pos_embed_cosine(pos_embed, cfg: ViTConfig):
    """Cosine similarity between the position embeddings of every pair of patches.

    pos_embed: (T, D); the prefix (CLS) row is skipped.
    Returns S (gh, gw, gh, gw): S[i, j] is the (gh, gw) map of patch (i, j)'s similarity with every
    patch, laid out like the paper's Figure 7 (centre); S[i, j, i, j] = 1.
    """
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
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"n={n!r}: expected an int in [1, {limit}] (min of D and P*P*C)")
    X = to_numpy(patch_embed_matrix(weight)).astype(np.float64)  # (D, P*P*C)
    X = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    comps = vt[:n]
    biggest = np.take_along_axis(comps, np.abs(comps).argmax(axis=1)[:, None], axis=1)
    comps = comps * np.where(biggest < 0, -1.0, 1.0)
    variance = s**2
    ratio = variance[:n] / variance.sum() if variance.sum() > 0 else np.zeros(n)
    return comps.reshape(n, P, P, C), ratio
