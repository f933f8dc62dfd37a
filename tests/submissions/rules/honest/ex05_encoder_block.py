"""Honest exercise 5: GELU with math.erf in a loop, LayerNorm in numpy, attention from a helper of its own
imported under another name, ``eval`` as a variable of its own."""

import math

import numpy as np
from ex04_attention import multi_head_attention as attend


def layer_norm(x, weight, bias, eps=1e-6):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight.astype(x.dtype) + bias.astype(x.dtype)


def gelu(x):
    flat = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.astype(np.float64).ravel()]
    return np.array(flat, dtype=np.float64).reshape(x.shape).astype(x.dtype)


def encoder_block(x, params, num_heads):
    p = {k: np.asarray(v, dtype=x.dtype) for k, v in params.items()}
    attn = {k[len("attn."):]: v for k, v in p.items() if k.startswith("attn.")}
    eval = layer_norm(x, p["norm1.weight"], p["norm1.bias"])  # noqa: A001 - a name of its own
    h, _ = attend(eval, attn, num_heads)
    x = x + h
    h = gelu(layer_norm(x, p["norm2.weight"], p["norm2.bias"]) @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"])
    return x + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
