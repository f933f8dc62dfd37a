"""Chapter 5: the pre-LN encoder block and the encoder.

z'_l = MSA(LN(z_{l-1})) + z_{l-1}        (the paper's Eq. 2)
z_l  = MLP(LN(z'_l)) + z'_l              (Eq. 3)

LayerNorm comes *before* each sub-layer (pre-LN), and each sub-layer adds to the residual
stream.  The MLP is Linear(D -> F), exact GELU, Linear(F -> D).
"""

from __future__ import annotations

import math

from .attention import multi_head_attention
from .backend import erf, like, namespace
from .checks import check_int, check_keys, check_shape
from .config import check_config
from .ops import linear, record

MLP_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
NORM_KEYS = ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")


def layer_norm(x, weight, bias, eps: float = 1e-6):
    """LN(x) = (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance).

    x: (..., D), weight and bias: (D,).
    """
    _check_norm(x, weight, bias)
    xp = namespace(x)
    mean = xp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = xp.mean(centred * centred, axis=-1, keepdims=True)
    y = centred / xp.sqrt(var + eps)
    y *= like(weight, y)  # in place, as in GELU: one (..., D) temporary instead of three
    y += like(bias, y)
    return y


def _check_norm(x, weight, bias) -> None:
    check_shape("weight", weight, x.shape[-1:], why="D, the width of x")  # also refuses a weight that would broadcast
    check_shape("bias", bias, x.shape[-1:], why="D, the width of x")


def gelu(x):
    """The exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (not the tanh approximation).

    x: any shape.  Phi, the normal CDF, is built in place: the (..., F) activations are the
    largest arrays of the model, and each temporary of that size costs time to allocate.
    """
    cdf = erf(x / math.sqrt(2.0))  # a new array; erf's gradient needs its input, not this output
    cdf += 1.0
    cdf *= 0.5
    return x * cdf


def mlp(x, params: dict, prefix: str, *, out: dict | None = None):
    """MLP(x) = GELU(x W1^T + b1) W2^T + b2.  x: (..., D) -> (..., D), hidden width F.

    Reads ``{prefix}fc1.weight`` (F, D), ``fc1.bias`` (F,), ``fc2.weight`` (D, F), ``fc2.bias`` (D,): the
    prefix ends with its dot, e.g. ``"blocks.0.mlp."``.
    out: records, under ``prefix``, ``fc1`` (the pre-activation (..., F)) and ``act`` (its GELU), and,
    under ``prefix`` without its dot, the output.
    """
    check_keys("params", params, prefix, MLP_KEYS)
    h = record(out, prefix + "fc1", linear(x, params[prefix + "fc1.weight"], params[prefix + "fc1.bias"]))
    g = record(out, prefix + "act", gelu(h))
    return record(out, prefix.rstrip("."), linear(g, params[prefix + "fc2.weight"], params[prefix + "fc2.bias"]))


def encoder_block(x, params: dict, i: int, cfg, *, out: dict | None = None):
    """Block ``i`` (pre-LN): x + MSA(LN1 x), then + MLP(LN2 x).

    x: (..., T, D).  Returns (x out (..., T, D), attention probabilities (..., heads, T, T)).
    out: records, under ``blocks.{i}.``, ``norm1``, what :func:`multi_head_attention` records under
    ``attn.``, ``after_attn`` (z'_l, the residual stream after attention), ``norm2``, what :func:`mlp`
    records under ``mlp.``, and ``blocks.{i}`` itself: the block's output z_l.
    """
    check_config(cfg, fields=("num_heads", "ln_eps"))
    _check_block(x, params, i)
    b = f"blocks.{i}."
    h = record(out, b + "norm1", layer_norm(x, params[b + "norm1.weight"], params[b + "norm1.bias"], cfg.ln_eps))
    a, probs = multi_head_attention(h, params, b + "attn.", cfg.num_heads, out=out)
    x = record(out, b + "after_attn", x + a)
    h = record(out, b + "norm2", layer_norm(x, params[b + "norm2.weight"], params[b + "norm2.bias"], cfg.ln_eps))
    return record(out, b[:-1], x + mlp(h, params, b + "mlp.", out=out)), probs


def _check_block(x, params: dict, i: int) -> None:
    check_int("i", i, 0)
    check_keys("params", params, f"blocks.{i}.", NORM_KEYS)  # names the blocks there are
    check_shape("x", x, (..., "T", params[f"blocks.{i}.norm1.weight"].shape[-1]), why="D, the width of the block")


def encoder(x, params: dict, cfg, *, out: dict | None = None):
    """z_L from z_0: the ``cfg.num_layers`` blocks in order.

    x: (..., T, D).  Returns (z_L (..., T, D), a list of each block's attention (..., heads, T, T)).
    out: records what every :func:`encoder_block` records, and ``"encoder"``: z_L.
    """
    check_config(cfg)
    attentions = []
    for i in range(cfg.num_layers):
        x, probs = encoder_block(x, params, i, cfg, out=out)
        attentions.append(probs)
    return record(out, "encoder", x), attentions
