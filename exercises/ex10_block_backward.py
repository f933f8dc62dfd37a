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
    raise NotImplementedError(
        "Exercise 10: redo the forward keeping intermediates; then MLP, LN2, attention, LN1")
