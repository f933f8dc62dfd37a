"""Buggy attention: the softmax normalises over the queries (axis -2)."""

import math

import numpy as np


def scaled_dot_product_attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    e = np.exp(s - s.max(axis=-2, keepdims=True))
    a = e / e.sum(axis=-2, keepdims=True)
    return a @ v, a


def multi_head_attention(x, params, num_heads):
    *lead, T, D = x.shape
    d = D // num_heads

    def proj(n, y):
        return y @ params[n + ".weight"].astype(x.dtype).T + params[n + ".bias"].astype(x.dtype)

    q, k, v = (np.swapaxes(proj(n, x).reshape(*lead, T, num_heads, d), -2, -3) for n in "qkv")
    o, a = scaled_dot_product_attention(q, k, v)
    return proj("proj", np.swapaxes(o, -2, -3).reshape(*lead, T, D)), a
