"""Chapter 9, attention maps: capture, rollout, gradient rollout, patch-grid maps and DINO masks.

attention A_l (L, heads, T, T)  ->  last-layer CLS row            -> (gh, gw) map
                                ->  rollout  A_hat_L ... A_hat_1  -> CLS row -> (gh, gw) map
A_l and dy/dA_l                 ->  gradient rollout               -> (gh, gw) map
map                             ->  DINO mask (the smallest set of patches holding a share of the mass)

Attention rollout (Abnar & Zuidema, 2020) treats each layer as mixing its input tokens: the
residual connection keeps half of every token (A_hat = 0.5 A + 0.5 I, rows re-normalised) and
layers compose by matrix product, later layers on the left.  Gradient rollout is the rule of Chefer et
al.'s ICCV 2021 paper (their CVPR 2021 method weights layer-wise relevance, LRP, by the gradient; this
one weights the attention itself): per layer G_l = mean over heads of max(A_l * dy/dA_l, 0), and
R <- R + G_l R from R = I; its rows do not sum to one, and since G_l scales with the logits, so does
everything but R's identity.

A map is read off for a CLS model from the CLS token's row (its patch columns); a mean-pooled
model has no CLS token and its output is the mean of all patch tokens, so its map is the mean
over the patch rows, with or without each token's own share (``token_map(..., exclude_self=True)``).
Maps are (gh, gw) = ``cfg.grid_size``, which need not be square.  Everything but
:func:`attention_gradients` (torch autograd) runs on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

import numpy as np

from ..backend import device, is_torch, like, namespace, to_numpy
from ..checks import check_array, check_int, check_number
from ..config import ViTConfig, check_config, check_images, check_params
from ..model import forward

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
        for i, a in enumerate(attentions):
            check_array(f"attentions[{i}]", a)
        return namespace(*attentions).stack(list(attentions), axis=0)
    return attentions


def _check_square(name: str, a, min_ndim: int, layout: str) -> None:
    check_array(name, a)
    shape = tuple(a.shape)
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
    check_number("discard_ratio", discard_ratio, 0.0, 1.0)
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


def token_map(matrix, cfg: ViTConfig, exclude_self: bool = False):
    """A token-to-token matrix read as a map over the patch grid.

    matrix: (..., T, T), e.g. one layer's attention or a rollout R (row i: what output token i is
    made of, column j: input token j).
    Returns (..., gh, gw) with (gh, gw) = ``cfg.grid_size``:
    - a CLS model: the CLS token's row, patch columns only (what the CLS token takes from each
      patch; its share of itself is left out, so the map sums to less than 1).  ``exclude_self``
      changes nothing here: the CLS token's own share is never on the patch grid.
    - a mean-pooled model (no CLS token; the output is the mean of the patch tokens): the mean over
      the patch rows.  By default each row keeps its diagonal, so the map answers "what is the
      pooled output made of?" (it sums to 1 when the rows do).  The diagonal is each token's own
      share carried by the residual term: in a gradient rollout R it stays 1 for every patch and
      dominates the map (a flat 1/N plus a ripple); in an attention rollout it decays layer by layer
      (a few per cent of a token after a few layers), and the two readings nearly coincide.  With
      ``exclude_self=True`` the diagonal is left out: the map answers "how much does each patch give
      to the *other* tokens?", what attention moved between patches.
    """
    check_config(cfg)
    T, k = cfg.num_tokens, cfg.num_prefix_tokens
    shape = tuple(getattr(matrix, "shape", ()))
    if len(shape) < 2 or shape[-2:] != (T, T):
        raise ValueError(f"matrix has shape {shape}: expected (..., {T}, {T}) for this config (T = num_tokens)")
    if not isinstance(exclude_self, bool):
        raise ValueError(f"exclude_self={exclude_self!r}: expected True or False")
    xp = namespace(matrix)
    if cfg.pool == "cls":
        row = matrix[..., 0, k:]
    else:
        patches = matrix[..., k:, k:]
        if exclude_self:
            off = 1 - xp.eye(T - k, dtype=patches.dtype, device=device(patches))
            patches = patches * off
        row = xp.mean(patches, axis=-2)
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
    a = a[check_int("layer", layer, -L, L - 1, why="negative counts from the last layer"), ...]
    if head is None:
        return token_map(fuse_heads(a, "mean"), cfg)
    return token_map(a[..., check_int("head", head, -H, H - 1, why="or None for the mean over heads"), :, :], cfg)


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
    check_config(cfg)
    import torch

    if cfg.num_classes == 0:
        raise ValueError("cfg.num_classes=0: this model has no head (its output is features, e.g. DINO's), so "
                         "there is no class logit to explain; gradient rollout needs a classifier "
                         "(use rollout or cls_attention instead)")
    check_images(images, cfg)  # before the conversion below, which would hide what was passed
    check_params(params, cfg)
    x = images.detach().clone() if is_torch(images) else torch.tensor(np.asarray(images))
    x.requires_grad_(True)  # so that every attention matrix is part of the graph
    p = {k: like(v, x).detach() for k, v in params.items()}
    saved = {}
    with torch.enable_grad():
        logits = forward(p, x, cfg, out=saved)
        attentions = [saved[f"blocks.{i}.attn.probs"] for i in range(cfg.num_layers)]
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
    """Chefer et al.'s gradient rollout: R <- R + G_l R over the layers, first to last, from R = I.

    attentions, gradients: (L, ..., heads, T, T), layer l of one paired with layer l of the other
    (gradients[l] = d y / d A_l for the logit y being explained).
    G_l = mean over heads of max(A_l * dy/dA_l, 0) (the positive gradient-weighted attention),
    with the lowest ``discard_ratio`` of its off-diagonal entries zeroed first (:func:`discard_lowest`).
    Returns R = (I + G_L) ... (I + G_1), shape (..., T, T).  Unlike :func:`rollout` its rows
    do not sum to one (R accumulates relevance, it does not split the output into parts), and R is not
    invariant to the logits' scale: multiplying the logit by alpha multiplies every G_l by alpha, so
    R - I has a term in alpha, one in alpha^2, ... up to alpha^L, and the shape of a map, not only its
    size, changes with alpha.  A CLS model's map leaves R's identity out
    (the CLS token's own column); a mean-pooled model's map keeps it unless ``exclude_self``
    (see :func:`token_map`): a flat 1/N per patch on which the gradient signal sits.
    """
    a, g = _stacked(attentions), _stacked(gradients)
    if tuple(a.shape) != tuple(g.shape):
        raise ValueError(f"gradients has shape {tuple(g.shape)}: expected the shape of attentions {tuple(a.shape)}")
    _check_square("attentions", a, 4, "(L, ..., heads, T, T)")
    xp = namespace(a)
    weighted = discard_lowest(xp.mean(xp.clip(a * g, min=0.0), axis=-3), discard_ratio)  # (L, ..., T, T)
    eye = xp.eye(weighted.shape[-1], dtype=weighted.dtype, device=device(weighted))
    result = eye + weighted[0, ...]
    for layer in range(1, weighted.shape[0]):
        result = result + xp.matmul(weighted[layer, ...], result)
    return result


def gradient_rollout(params: dict, images, cfg: ViTConfig, target=None, discard_ratio: float = 0.0,
                     exclude_self: bool = False):
    """Gradient rollout (Chefer et al.) as a patch-grid map.

    images: (H, W, C) or (B, H, W, C).  target: None (predicted class), an int, or (B,) ints.
    exclude_self: for a mean-pooled model, leave each token's own share out (see :func:`token_map`).
    Returns (gh, gw) or (B, gh, gw), numpy for numpy images (see :func:`attention_gradients`,
    :func:`gradient_weighted_rollout` and :func:`token_map`).  The map's shape depends on the
    logits' scale (see :func:`gradient_weighted_rollout`): it is not normalised.
    """
    check_config(cfg)
    _, attentions, gradients = attention_gradients(params, images, cfg, target)
    return token_map(gradient_weighted_rollout(attentions, gradients, discard_ratio), cfg, exclude_self)


def dino_mask(scores, fraction: float = 0.6):
    """The smallest set of positions holding at least ``fraction`` of the mass (as DINO's figures).

    scores: (..., gh, gw) non-negative; each map (last two axes) is treated on its own.
    Returns a bool array of the same shape: the highest scores, taken in decreasing order until
    their sum reaches fraction * (the map's sum).  Ties at the boundary: the earlier position in
    row-major order is taken first.  A map of zeros gives an empty mask.
    """
    check_number("fraction", fraction, 0.0, 1.0, low_open=True)
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
