"""Exercise 10 (bonus, chapter 10): the backward pass of one pre-LN encoder block, by hand.

Allowed: numpy, scipy, your own forward pieces (exercises 4 and 5) and the library's forward functions of
chapters 1-5 (``vit_lessons.layer_norm``, ``gelu``, ``multi_head_attention`` ...).
Not allowed: torch (its autograd would compute the answer: the grader never loads it and refuses its import,
here and in your files this one imports: if your ex05 uses torch, write it in numpy or use the library's
forward functions above) and the library's other functions (``vit_lessons.backward`` ...).
The grader cannot tell gradients written by hand from a numerical derivative of your forward pass (complex
step, precise to 1e-8); only the first is this exercise, and only it teaches the backward pass.
"""

import math  # noqa: F401

import numpy as np  # noqa: F401

# BEGIN SOLUTION
from scipy.special import erf

# END SOLUTION


def block_backward(x, params, num_heads, dy):
    """Gradients of sum(dy * block(x)) for the pre-LN block of exercise 5 (LayerNorm eps 1e-6).

    x, dy: (T, D), float64.  params: the block's parameters without the ``"blocks.{i}."`` prefix (as in
    exercise 5).  Returns (dx (T, D), grads), grads a dict with the same keys and shapes as ``params``, all
    in the dtype of ``x``, float64 (another dtype fails the test).

    Example: T 5, D 8, 2 heads, F 16 -> dx (5, 8), grads["mlp.fc1.weight"] (16, 8).
    Useful facts: y = x W^T + b gives dx = dy W, dW = dy^T x, db = sum_rows dy;
    softmax: dS = A * (dA - sum_j dA_j A_j); GELU'(h) = Phi(h) + h phi(h);
    LayerNorm: dx = (g - mean(g) - x_hat mean(g x_hat)) / sigma with g = dy * weight.
    """
    # BEGIN SOLUTION hint: redo the forward keeping intermediates; then MLP, LN2, attention, LN1
    p, eps = params, 1e-6
    T, D = x.shape
    H, d = num_heads, D // num_heads

    def ln(z, name):
        centred = z - z.mean(axis=-1, keepdims=True)
        sigma = np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + eps)
        x_hat = centred / sigma
        return x_hat * p[name + ".weight"] + p[name + ".bias"], (x_hat, sigma)

    def ln_back(cache, name, g_out, grads):
        x_hat, sigma = cache
        g = g_out * p[name + ".weight"]
        grads[name + ".weight"], grads[name + ".bias"] = (g_out * x_hat).sum(axis=0), g_out.sum(axis=0)
        return (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True)) / sigma

    def lin(z, name):
        return z @ p[name + ".weight"].T + p[name + ".bias"]

    def lin_back(z, name, g_out, grads):
        grads[name + ".weight"], grads[name + ".bias"] = g_out.T @ z, g_out.sum(axis=0)
        return g_out @ p[name + ".weight"]

    def split(z):  # (T, D) -> (H, T, d)
        return z.reshape(T, H, d).transpose(1, 0, 2)

    def merge(z):  # (H, T, d) -> (T, D)
        return z.transpose(1, 0, 2).reshape(T, D)

    grads = {}
    x1, c1 = ln(x, "norm1")
    q, k, v = (split(lin(x1, f"attn.{n}")) for n in "qkv")
    S = q @ k.transpose(0, 2, 1) / math.sqrt(d)
    A = np.exp(S - S.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)
    merged = merge(A @ v)
    x_mid = x + lin(merged, "attn.proj")
    x2, c2 = ln(x_mid, "norm2")
    h = lin(x2, "mlp.fc1")
    cdf = 0.5 * (1.0 + erf(h / math.sqrt(2.0)))

    d_gelu = lin_back(h * cdf, "mlp.fc2", dy, grads)
    d_h = d_gelu * (cdf + h * np.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi))
    d_mid = dy + ln_back(c2, "norm2", lin_back(x2, "mlp.fc1", d_h, grads), grads)
    d_out = split(lin_back(merged, "attn.proj", d_mid, grads))
    d_A = d_out @ v.transpose(0, 2, 1)
    d_v = A.transpose(0, 2, 1) @ d_out
    d_S = A * (d_A - (d_A * A).sum(axis=-1, keepdims=True)) / math.sqrt(d)
    d_q, d_k = d_S @ k, d_S.transpose(0, 2, 1) @ q
    d_x1 = sum(lin_back(x1, f"attn.{n}", merge(g), grads) for n, g in zip("qkv", (d_q, d_k, d_v), strict=True))
    dx = d_mid + ln_back(c1, "norm1", d_x1, grads)
    return dx, {name: grads[name] for name in params}
    # END SOLUTION
