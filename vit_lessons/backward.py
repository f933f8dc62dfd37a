"""Chapter 10: the backward pass by hand, with no autograd.

Reverse mode, layer by layer, as a spec would write it: the forward pass records its
intermediates once (``forward(..., out=saved)``), and each ``*_backward`` reads the ones of its
own layer from ``saved`` and maps the gradient of its output to the gradients of its inputs and
parameters.  Called on its own (``saved=None``), a layer's backward runs that layer's forward
once to record them.

    head:        dW = dy^T x,  db = sum dy,  dx = dy W
    pool:        mean -> broadcast dy to every patch token and scale by 1/N;  cls -> dy into token 0
    LayerNorm:   dx = (g - mean(g) - x_hat mean(g x_hat)) / sigma,  with g = dy * weight
    block:       the residuals copy the gradient; MLP (GELU' = Phi(x) + x phi(x)); attention
                 (softmax: dS = A * (dA - sum_j dA A)); the LayerNorms
    E_pos:       addition: dE_pos = dz_0 (summed over the batch), and the same flows on
    patch embed: a convolution: dE = dy^T windows, db = sum dy, d image = windows' adjoint
"""

from __future__ import annotations

import math

from .attention import merge_heads, multi_head_attention, split_heads
from .backend import device, erf, like, namespace
from .checks import check_shape
from .config import check_config
from .embedding import patch_embed_matrix
from .encoder import encoder_block, mlp
from .model import check_images, check_params, forward


def _sum_lead(x, keep: int):
    """Sum over every leading axis, keeping the last ``keep`` axes."""
    xp = namespace(x)
    return xp.sum(xp.reshape(x, (-1, *x.shape[x.ndim - keep:])), axis=0)


def linear_backward(x, weight, dy):
    """y = x W^T + b.  x: (..., in), weight: (out, in), dy: (..., out) -> (dx, dW, db)."""
    xp = namespace(x)
    x2, dy2 = xp.reshape(x, (-1, x.shape[-1])), xp.reshape(dy, (-1, dy.shape[-1]))
    dx = xp.reshape(xp.matmul(dy2, weight), x.shape)
    return dx, xp.matmul(dy2.mT, x2), xp.sum(dy2, axis=0)


def layer_norm_backward(x, weight, eps: float, dy):
    """LayerNorm over the last axis.  x, dy: (..., D); weight: (D,) -> (dx, d weight, d bias)."""
    xp = namespace(x)
    mean = xp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    sigma = xp.sqrt(xp.mean(centred * centred, axis=-1, keepdims=True) + eps)
    x_hat = centred / sigma
    g = dy * weight
    dx = (g - xp.mean(g, axis=-1, keepdims=True) - x_hat * xp.mean(g * x_hat, axis=-1, keepdims=True)) / sigma
    return dx, _sum_lead(dy * x_hat, 1), _sum_lead(dy, 1)


def gelu_backward(x, dy):
    """d GELU(x) / dx = Phi(x) + x phi(x), the normal CDF and density."""
    xp = namespace(x)
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = xp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return dy * (cdf + x * pdf)


def softmax_backward(probs, d_probs):
    """Through A = softmax(S) along the last axis: dS = A * (dA - sum_j dA_j A_j)."""
    xp = namespace(probs)
    return probs * (d_probs - xp.sum(d_probs * probs, axis=-1, keepdims=True))


def multi_head_attention_backward(x, params: dict, prefix: str, num_heads: int, dy, saved: dict | None = None):
    """Multi-head self-attention.  x, dy: (..., T, D) -> (dx, {param name: gradient}).

    saved: what ``multi_head_attention(x, ..., out=saved)`` recorded (q, k, v, probs, merged under
    ``prefix``); None runs it now.
    """
    if saved is None:
        multi_head_attention(x, params, prefix, num_heads, out=(saved := {}))
    xp = namespace(x)
    q, k, v, probs = (saved[prefix + n] for n in ("q", "k", "v", "probs"))
    grads = {}
    d_merged, grads[prefix + "proj.weight"], grads[prefix + "proj.bias"] = \
        linear_backward(saved[prefix + "merged"], params[prefix + "proj.weight"], dy)
    d_out = split_heads(d_merged, num_heads)
    d_probs = xp.matmul(d_out, v.mT)
    dv = xp.matmul(probs.mT, d_out)
    d_scores = softmax_backward(probs, d_probs) / math.sqrt(q.shape[-1])
    dq, dk = xp.matmul(d_scores, k), xp.matmul(d_scores.mT, q)
    dx = 0
    for n, d_heads in zip("qkv", (dq, dk, dv), strict=True):
        dxn, grads[f"{prefix}{n}.weight"], grads[f"{prefix}{n}.bias"] = \
            linear_backward(x, params[f"{prefix}{n}.weight"], merge_heads(d_heads))
        dx = dx + dxn
    return dx, grads


def mlp_backward(x, params: dict, prefix: str, dy, saved: dict | None = None):
    """MLP = fc2(GELU(fc1 x)).  x, dy: (..., D) -> (dx, {param name: gradient}).

    saved: what ``mlp(x, ..., out=saved)`` recorded (fc1, act under ``prefix``); None runs it now.
    """
    if saved is None:
        mlp(x, params, prefix, out=(saved := {}))
    grads = {}
    dg, grads[prefix + "fc2.weight"], grads[prefix + "fc2.bias"] = \
        linear_backward(saved[prefix + "act"], params[prefix + "fc2.weight"], dy)
    dx, grads[prefix + "fc1.weight"], grads[prefix + "fc1.bias"] = \
        linear_backward(x, params[prefix + "fc1.weight"], gelu_backward(saved[prefix + "fc1"], dg))
    return dx, grads


def encoder_block_backward(x, params: dict, i: int, cfg, dy, saved: dict | None = None):
    """Block ``i``: x' = x + MSA(LN1 x); y = x' + MLP(LN2 x').  x, dy: (..., T, D) -> (dx, grads).

    saved: what ``encoder_block(x, ..., out=saved)`` recorded (or a whole forward's record); None runs
    the block now.
    """
    check_config(cfg, fields=("num_heads", "ln_eps"))
    if saved is None:
        encoder_block(x, params, i, cfg, out=(saved := {}))
    b = f"blocks.{i}."
    # y = x' + MLP(LN2 x'): the residual copies dy, the MLP branch adds its part.
    d_ln2, grads = mlp_backward(saved[b + "norm2"], params, b + "mlp.", dy, saved)
    d_branch, grads[b + "norm2.weight"], grads[b + "norm2.bias"] = \
        layer_norm_backward(saved[b + "after_attn"], params[b + "norm2.weight"], cfg.ln_eps, d_ln2)
    d_mid = dy + d_branch
    # x' = x + MSA(LN1 x): the same again.
    d_ln1, attn_grads = multi_head_attention_backward(saved[b + "norm1"], params, b + "attn.", cfg.num_heads, d_mid,
                                                      saved)
    grads.update(attn_grads)
    d_branch, grads[b + "norm1.weight"], grads[b + "norm1.bias"] = \
        layer_norm_backward(x, params[b + "norm1.weight"], cfg.ln_eps, d_ln1)
    return d_mid + d_branch, grads


def head_and_pool_backward(saved: dict, params: dict, cfg, dlogits, grads: dict):
    """Through head(pool(LN(z_L))): dlogits (..., K) (without a head: (..., D)) -> d z_L (..., T, D);
    the head's and the final LayerNorm's gradients go into ``grads``.  saved: a whole forward's record."""
    check_config(cfg)
    xp = namespace(dlogits)
    if cfg.num_classes:
        d_pooled, grads["head.weight"], grads["head.bias"] = linear_backward(saved["pool"], params["head.weight"],
                                                                             dlogits)
    else:  # no head: dlogits is the gradient of the pooled features
        d_pooled = dlogits
    z_norm = saved["norm"]
    d_z = xp.zeros(z_norm.shape, dtype=z_norm.dtype, device=device(z_norm))
    if cfg.pool == "cls":
        d_z[..., 0, :] = d_pooled
    else:
        d_z[..., cfg.num_prefix_tokens:, :] = d_pooled[..., None, :] / cfg.num_patches
    d_z, grads["norm.weight"], grads["norm.bias"] = \
        layer_norm_backward(saved["encoder"], params["norm.weight"], cfg.ln_eps, d_z)
    return d_z


def embed_backward(saved: dict, params: dict, cfg, image_shape: tuple[int, ...], d_z, grads: dict):
    """Through z_0 = [x_class;] x_p E + b + E_pos: d z_0 (..., T, D) -> d image (``image_shape``); the
    gradients of E_pos, the CLS token and the patch embedding go into ``grads``."""
    check_config(cfg)
    xp = namespace(d_z)
    grads["pos_embed"] = _sum_lead(d_z, 2)
    if cfg.pool == "cls":
        grads["cls_token"] = _sum_lead(d_z[..., 0, :], 1)
        d_z = d_z[..., 1:, :]
    P, C = cfg.patch_size, cfg.channels
    E = patch_embed_matrix(params["patch_embed.weight"])
    d_flat, d_W, grads["patch_embed.bias"] = linear_backward(saved["patches"], E, d_z)
    grads["patch_embed.weight"] = xp.permute_dims(xp.reshape(d_W, (cfg.d_model, P, P, C)), (0, 3, 1, 2))
    gh, gw = cfg.grid_size
    d_windows = xp.reshape(d_flat, (*d_flat.shape[:-2], gh, gw, P, P, C))
    return conv_windows_backward(d_windows, image_shape, cfg.stride, cfg.padding)


def conv_windows_backward(d_windows, image_shape: tuple[int, ...], stride: int, padding: int = 0):
    """The adjoint of :func:`vit_lessons.conv_windows`: add every window's gradient back onto the
    pixels it saw.

    d_windows: (..., outH, outW, k, k, C).  image_shape: (..., H, W, C) of the unpadded image.
    Returns the image gradient, shape ``image_shape`` (overlapping windows add up; padding is cut off).
    """
    xp = namespace(d_windows)
    *lead, oh, ow, k, _, C = d_windows.shape
    H, W = image_shape[-3], image_shape[-2]
    d = xp.zeros((*lead, H + 2 * padding, W + 2 * padding, C), dtype=d_windows.dtype, device=device(d_windows))
    for i in range(k):
        for j in range(k):
            d[..., i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :] += \
                d_windows[..., :, :, i, j, :]
    return d[..., padding:padding + H, padding:padding + W, :]


def backward(params: dict, image, cfg, dlogits) -> dict:
    """Gradients of sum(dlogits * forward(params, image, cfg)) by hand.

    image: (H, W, C) or (B, H, W, C); dlogits: (K,) or (B, K), the gradient of the loss with
    respect to the logits (a model without a head: (D,) or (B, D), with respect to the pooled
    features).  Returns a dict with the keys of ``params`` (same shapes) and ``"image"`` (the shape
    of ``image``).  Use float64 arrays to compare with autograd.
    """
    check_images(image, cfg, "image")
    check_params(params, cfg)
    K = cfg.num_classes or cfg.d_model  # without a head, forward's output is the pooled features
    check_shape("dlogits", dlogits, (*image.shape[:-3], K), why="one gradient per logit of each image")
    params = {k: like(v, image) for k, v in params.items()}  # as forward computes with them
    saved = {}
    forward(params, image, cfg, out=saved)  # the one forward pass; every layer below reads its record
    grads = {}
    d_z = head_and_pool_backward(saved, params, cfg, like(dlogits, image), grads)
    for i in reversed(range(cfg.num_layers)):  # the encoder, last block first
        block_input = saved["embed"] if i == 0 else saved[f"blocks.{i - 1}"]
        d_z, block_grads = encoder_block_backward(block_input, params, i, cfg, d_z, saved)
        grads.update(block_grads)
    grads["image"] = embed_backward(saved, params, cfg, image.shape, d_z, grads)
    return {k: grads[k] for k in (*params, "image")}
