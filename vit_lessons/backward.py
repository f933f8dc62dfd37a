"""Chapter 10: the backward pass by hand, with no autograd.

Reverse mode, layer by layer, as a spec would write it: each ``*_backward`` recomputes the
few intermediates of its own forward (with the same forward functions the model uses) and
maps the gradient of its output to the gradients of its inputs and parameters.

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

from .attention import merge_heads, multi_head_attention, scaled_dot_product_attention, split_heads
from .backend import device, erf, namespace
from .embedding import linear, patch_embed_matrix, prepend_cls
from .encoder import encoder_block, gelu, layer_norm
from .model import check_images, check_params, pool
from .patches import conv_windows, conv_windows_backward


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


def multi_head_attention_backward(x, params: dict, prefix: str, num_heads: int, dy):
    """Multi-head self-attention.  x, dy: (..., T, D) -> (dx, {param name: gradient})."""
    xp = namespace(x)
    names = ("q", "k", "v")
    proj = {n: linear(x, params[f"{prefix}{n}.weight"], params[f"{prefix}{n}.bias"]) for n in names}
    q, k, v = (split_heads(proj[n], num_heads) for n in names)
    out, probs = scaled_dot_product_attention(q, k, v)
    grads = {}
    d_merged, grads[prefix + "proj.weight"], grads[prefix + "proj.bias"] = \
        linear_backward(merge_heads(out), params[prefix + "proj.weight"], dy)
    d_out = split_heads(d_merged, num_heads)
    d_probs = xp.matmul(d_out, v.mT)
    dv = xp.matmul(probs.mT, d_out)
    d_scores = softmax_backward(probs, d_probs) / math.sqrt(q.shape[-1])
    dq, dk = xp.matmul(d_scores, k), xp.matmul(d_scores.mT, q)
    dx = 0
    for n, d_heads in zip(names, (dq, dk, dv), strict=False):
        dxn, grads[f"{prefix}{n}.weight"], grads[f"{prefix}{n}.bias"] = \
            linear_backward(x, params[f"{prefix}{n}.weight"], merge_heads(d_heads))
        dx = dx + dxn
    return dx, grads


def mlp_backward(x, params: dict, prefix: str, dy):
    """MLP = fc2(GELU(fc1 x)).  x, dy: (..., D) -> (dx, {param name: gradient})."""
    grads = {}
    h = linear(x, params[prefix + "fc1.weight"], params[prefix + "fc1.bias"])
    dg, grads[prefix + "fc2.weight"], grads[prefix + "fc2.bias"] = \
        linear_backward(gelu(h), params[prefix + "fc2.weight"], dy)
    dx, grads[prefix + "fc1.weight"], grads[prefix + "fc1.bias"] = \
        linear_backward(x, params[prefix + "fc1.weight"], gelu_backward(h, dg))
    return dx, grads


def encoder_block_backward(x, params: dict, i: int, cfg, dy):
    """Block ``i``: x' = x + MSA(LN1 x); y = x' + MLP(LN2 x').  x, dy: (..., T, D) -> (dx, grads)."""
    b = f"blocks.{i}."
    w1, b1, w2, b2 = (params[b + n] for n in ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"))
    x1 = layer_norm(x, w1, b1, cfg.ln_eps)
    x_mid = x + multi_head_attention(x1, params, b + "attn.", cfg.num_heads)[0]
    # y = x_mid + MLP(LN2 x_mid): the residual copies dy, the MLP branch adds its part.
    d_ln2, grads = mlp_backward(layer_norm(x_mid, w2, b2, cfg.ln_eps), params, b + "mlp.", dy)
    d_branch, grads[b + "norm2.weight"], grads[b + "norm2.bias"] = layer_norm_backward(x_mid, w2, cfg.ln_eps, d_ln2)
    d_mid = dy + d_branch
    # x_mid = x + MSA(LN1 x): the same again.
    d_ln1, attn_grads = multi_head_attention_backward(x1, params, b + "attn.", cfg.num_heads, d_mid)
    grads.update(attn_grads)
    d_branch, grads[b + "norm1.weight"], grads[b + "norm1.bias"] = layer_norm_backward(x, w1, cfg.ln_eps, d_ln1)
    return d_mid + d_branch, grads


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
    expected = (*image.shape[:-3], K)
    if tuple(dlogits.shape) != expected:
        raise ValueError(f"dlogits has shape {tuple(dlogits.shape)}: expected {expected} "
                         f"(one gradient per logit of each image)")
    xp = namespace(image)
    P, s = cfg.patch_size, cfg.stride
    grads = {}

    # forward, keeping what the backward needs: the input of every block and the final z_L
    windows = conv_windows(image, P, s, cfg.padding)
    *lead, gh, gw, _, _, C = windows.shape
    flat = xp.reshape(windows, (*lead, gh * gw, P * P * C))
    W_patch = patch_embed_matrix(params["patch_embed.weight"])
    tokens = linear(flat, W_patch, params["patch_embed.bias"])
    z = prepend_cls(tokens, params["cls_token"]) if cfg.pool == "cls" else tokens
    z = z + params["pos_embed"]
    block_inputs = []
    for i in range(cfg.num_layers):
        block_inputs.append(z)
        z, _ = encoder_block(z, params, i, cfg)
    z_norm = layer_norm(z, params["norm.weight"], params["norm.bias"], cfg.ln_eps)

    # head and pooling
    if cfg.num_classes:
        d_pooled, grads["head.weight"], grads["head.bias"] = linear_backward(pool(z_norm, cfg), params["head.weight"],
                                                                             dlogits)
    else:
        d_pooled = dlogits
    d_z = xp.zeros(z_norm.shape, dtype=z_norm.dtype, device=device(z_norm))
    if cfg.pool == "cls":
        d_z[..., 0, :] = d_pooled
    else:
        d_z[..., cfg.num_prefix_tokens:, :] = d_pooled[..., None, :] / cfg.num_patches
    d_z, grads["norm.weight"], grads["norm.bias"] = layer_norm_backward(z, params["norm.weight"], cfg.ln_eps, d_z)

    # the encoder, last block first
    for i in reversed(range(cfg.num_layers)):
        d_z, block_grads = encoder_block_backward(block_inputs[i], params, i, cfg, d_z)
        grads.update(block_grads)

    # positions, CLS token, patch embedding
    grads["pos_embed"] = _sum_lead(d_z, 2)
    if cfg.pool == "cls":
        grads["cls_token"] = _sum_lead(d_z[..., 0, :], 1)
        d_z = d_z[..., 1:, :]
    d_flat, d_W, grads["patch_embed.bias"] = linear_backward(flat, W_patch, d_z)
    D = cfg.d_model
    grads["patch_embed.weight"] = xp.permute_dims(xp.reshape(d_W, (D, P, P, C)), (0, 3, 1, 2))
    grads["image"] = conv_windows_backward(xp.reshape(d_flat, windows.shape), image.shape, s, cfg.padding)
    return {k: grads[k] for k in (*params, "image")}
