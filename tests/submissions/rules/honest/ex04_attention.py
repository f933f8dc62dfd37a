"""Honest exercise 4: the heads from a generator, a softmax of its own under a unicode name, a lambda."""

import math

import numpy as np


def σ(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(q, k, v):
    probs = σ(q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]))
    return probs @ v, probs


def heads(y, num_heads):
    d = y.shape[-1] // num_heads
    for h in range(num_heads):
        yield y[..., h * d:(h + 1) * d]


def multi_head_attention(x, params, num_heads):
    linear = lambda y, n: y @ params[n + ".weight"].astype(x.dtype).T + params[n + ".bias"].astype(x.dtype)  # noqa: E731
    q, k, v = (np.stack(list(heads(linear(x, n), num_heads)), axis=-3) for n in "qkv")
    out, probs = scaled_dot_product_attention(q, k, v)
    return linear(np.concatenate(list(out[..., h, :, :] for h in range(num_heads)), axis=-1), "proj"), probs
