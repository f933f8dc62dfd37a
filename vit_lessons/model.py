"""Chapters 6 and 7: pooling, the head, and the whole forward pass.

image (H, W, C) -> patch embed -> (N, D) -> [CLS;] + E_pos -> (T, D) -> encoder x L
      -> LayerNorm -> pool (token 0, or mean over the patch tokens) -> (D,) -> head -> (K,)
"""

from __future__ import annotations

import math

import numpy as np

from .backend import like, namespace
from .checks import check_int, check_keys, check_shape
from .config import ViTConfig, check_config, check_images, check_params, param_shapes
from .embedding import embed
from .encoder import encoder, layer_norm
from .ops import linear, record


# ---- parameters ------------------------------------------------------------------------------
def init_params(cfg: ViTConfig, seed: int) -> dict[str, np.ndarray]:
    """Random parameters in the canonical layout, float32, the same for the same ``seed``.

    EVERY parameter is random, LayerNorm gains (1 + noise) and biases included, so a forward
    pass that forgets a bias or swaps a gain gives a different answer.  Weights are drawn
    N(0, 1/fan_in) so activations stay of order 1; biases N(0, 0.1^2); the CLS token and the
    positional embedding N(0, 0.5^2), large enough that forgetting them shows.
    For training use :func:`init_params_for_training`.
    """
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(cfg).items():
        if name in ("cls_token", "pos_embed"):
            value = 0.5 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            value = 0.1 * rng.standard_normal(shape)
        elif len(shape) == 1:  # LayerNorm gains
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            fan_in = math.prod(shape[1:])
            value = rng.standard_normal(shape) / math.sqrt(fan_in)
        params[name] = value.astype(np.float32)
    return params


def init_params_for_training(cfg: ViTConfig, seed: int) -> dict[str, np.ndarray]:
    """The initialisation of training, after timm's ViT: every weight matrix, the patch-embedding
    kernel and the positional embedding drawn N(0, 0.02^2) truncated at 2 standard deviations
    (+-0.04), the CLS token N(0, (1e-6)^2) truncated the same way, zeros for every bias, ones for the
    LayerNorm gains.  float32, deterministic in ``seed``.

    Where timm differs: its ``trunc_normal_(std=.02)`` cuts at +-2 in absolute value, 100 standard
    deviations, so its draws are in effect untruncated; its ``init_weights_vit_timm`` re-initialises
    only the ``nn.Linear`` layers (and the positional embedding and CLS token, the latter with an
    untruncated normal), so its patch-embedding ``Conv2d`` keeps PyTorch's default initialisation
    (Kaiming-uniform kernel, uniform bias)."""
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)

    def trunc_normal(shape, std):
        x = rng.standard_normal(shape)
        while (bad := np.abs(x) > 2.0).any():
            x[bad] = rng.standard_normal(int(bad.sum()))
        return std * x

    params = {}
    for name, shape in param_shapes(cfg).items():
        if name == "cls_token":
            value = trunc_normal(shape, 1e-6)
        elif name.endswith(".bias"):
            value = np.zeros(shape)
        elif len(shape) == 1:
            value = np.ones(shape)
        else:
            value = trunc_normal(shape, 0.02)
        params[name] = value.astype(np.float32)
    return params


# ---- the last steps --------------------------------------------------------------------------
#: what pool() says of a config that is not one (often the mode, as exercise 6's pool takes it)
POOL_CONFIG = (" (its pool field says how to pool, e.g. ViTConfig(pool='mean', ...); exercise 6's "
               "pool(x, mode, num_prefix_tokens) is the one that takes the mode)")


def pool(x, cfg: ViTConfig):
    """(..., T, D) -> (..., D): token 0 (the CLS token) for ``"cls"``, the mean over the N
    patch tokens for ``"mean"`` (a mean-pooled model has no CLS token to leave out).  The config says how
    to pool (``cfg.pool``): exercise 6's ``pool(x, mode, num_prefix_tokens)`` is the one that takes the mode."""
    check_config(cfg, how=POOL_CONFIG)
    check_shape("x", x, (..., "T", "D"))
    if cfg.pool == "cls":
        return x[..., 0, :]
    xp = namespace(x)
    return xp.mean(x[..., cfg.num_prefix_tokens:, :], axis=-2)


def head(x, params: dict):
    """Logits y = x W_head^T + b_head: (..., D) -> (..., K)."""
    check_keys("params", params, "", ("head.weight", "head.bias"))
    check_shape("x", x, (..., params["head.weight"].shape[-1]), why="the width D of params['head.weight']")
    return linear(x, params["head.weight"], params["head.bias"])


def forward(params: dict, images, cfg: ViTConfig, *, return_attention: bool = False, out: dict | None = None):
    """The ViT forward pass.

    params: the canonical layout (numpy arrays or torch tensors; converted to the kind, dtype
            and device of ``images`` when they differ; tensors of the right kind keep autograd).
    images: (H, W, C) or (B, H, W, C), channels last, numpy or torch.
    Returns logits (K,) or (B, K) of the same kind as ``images`` (a model without a head,
    ``cfg.num_classes == 0``: the pooled features (D,) or (B, D)); with ``return_attention`` also the
    attention probabilities of every block, (L, [B,] heads, T, T).
    out: a dict that receives every intermediate as it is computed, named after the layer that
         made it: ``"patches"`` (x_p), ``"patch_embed"``, ``"embed"`` (z_0), per block
         ``"blocks.{i}.norm1"``, ``".attn.q"``/``k``/``v``, ``".attn.probs"``, ``".attn.merged"``,
         ``".attn"``, ``".after_attn"``, ``".norm2"``, ``".mlp.fc1"``, ``".mlp.act"``, ``".mlp"``
         and ``"blocks.{i}"`` (z_i), then ``"encoder"`` (z_L), ``"norm"``, ``"pool"`` and ``"head"``
         (the logits; absent without a head).  The arrays are the computation's own (with torch,
         part of its graph).
    """
    check_images(images, cfg)
    check_params(params, cfg)
    params = {k: like(v, images) for k, v in params.items()}
    z = embed(images, params, cfg, out=out)                       # z_0 (..., T, D)
    z, attentions = encoder(z, params, cfg, out=out)              # z_L (..., T, D)
    z = record(out, "norm", layer_norm(z, params["norm.weight"], params["norm.bias"], cfg.ln_eps))
    pooled = record(out, "pool", pool(z, cfg))                    # (..., D)
    if not cfg.num_classes:                                       # a feature extractor (e.g. DINO)
        return (pooled, namespace(images).stack(attentions, axis=0)) if return_attention else pooled
    logits = record(out, "head", head(pooled, params))            # (..., K)
    if return_attention:
        return logits, namespace(images).stack(attentions, axis=0)
    return logits
