"""Chapter 4: scaled dot-product attention and multi-head self-attention.

Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

Multi-head self-attention projects the tokens to queries, keys and values, splits the
D features into ``heads`` groups of d = D / heads consecutive features, attends in each
group separately, concatenates the heads and projects back with W_O.
"""

from __future__ import annotations

import math

from .backend import namespace
from .checks import check_array, check_int, check_keys, check_shape
from .ops import linear, record

#: the parameters of one multi-head attention, after its prefix
ATTENTION_KEYS = tuple(f"{n}.{w}" for n in ("q", "k", "v", "proj") for w in ("weight", "bias"))


def softmax(x, axis: int = -1):
    """softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x) along ``axis`` (stable).  x: any shape."""
    check_array("x", x)
    xp = namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def scaled_dot_product_attention(q, k, v):
    """softmax(Q K^T / sqrt(d)) V.

    q: (..., Tq, d), k: (..., Tk, d), v: (..., Tk, dv).
    Returns (output (..., Tq, dv), probabilities A (..., Tq, Tk)); each row of A sums to 1:
    row i says how much query token i takes from every key token.
    """
    _check_qkv(q, k, v)
    xp = namespace(q)
    # scaling q (T x d numbers) before the product is cheaper than scaling the T x T scores
    scores = xp.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.mT)
    probs = softmax(scores, axis=-1)
    return xp.matmul(probs, v), probs


def _check_qkv(q, k, v) -> None:
    check_shape("k", k, (..., "Tk", q.shape[-1]), why="d, the width of q")
    check_shape("v", v, (..., k.shape[-2], "dv"), why="Tk, the tokens of k")


def split_heads(x, num_heads: int):
    """(..., T, D) -> (..., heads, T, d): head h takes features h*d .. (h+1)*d - 1."""
    xp = namespace(x)
    *lead, T, D = x.shape
    if check_int("num_heads", num_heads, 1) and D % num_heads:
        raise ValueError(f"num_heads={num_heads}: expected a divisor of the token width D={D}")
    x = xp.reshape(x, (*lead, T, num_heads, D // num_heads))
    n = len(lead)
    return xp.permute_dims(x, (*range(n), n + 1, n, n + 2))


def merge_heads(x):
    """(..., heads, T, d) -> (..., T, heads * d): the inverse of :func:`split_heads`."""
    xp = namespace(x)
    *lead, H, T, d = x.shape
    n = len(lead)
    x = xp.permute_dims(x, (*range(n), n + 1, n, n + 2))
    return xp.reshape(x, (*lead, T, H * d))


def multi_head_attention(x, params: dict, prefix: str, num_heads: int, *, out: dict | None = None):
    """Multi-head self-attention MSA(x).

    x: (..., T, D).  Reads ``{prefix}q|k|v|proj.weight`` (D, D) and ``.bias`` (D,) from params: the prefix
    ends with its dot, e.g. ``"blocks.0.attn."``.
    Returns (output (..., T, D), attention probabilities (..., heads, T, T)).
    out: records, under ``prefix``, ``q``, ``k``, ``v`` (..., heads, T, d), ``probs`` (..., heads, T, T),
    ``merged`` (the heads' outputs side by side, (..., T, D)) and, under ``prefix`` without its dot,
    the output.
    """
    check_keys("params", params, prefix, ATTENTION_KEYS)
    q, k, v = (record(out, prefix + n, split_heads(linear(x, params[f"{prefix}{n}.weight"],
                                                          params[f"{prefix}{n}.bias"]), num_heads))
               for n in "qkv")
    heads, probs = scaled_dot_product_attention(q, k, v)
    record(out, prefix + "probs", probs)
    merged = record(out, prefix + "merged", merge_heads(heads))
    y = linear(merged, params[prefix + "proj.weight"], params[prefix + "proj.bias"])
    return record(out, prefix.rstrip("."), y), probs
