"""Exercise 5 (chapter 5): the pre-LN encoder block.

Allowed: numpy, torch, scipy (``scipy.special.erf``), the library's chapters 1-4 (``vit_lessons.linear``,
``vit_lessons.multi_head_attention``, ``softmax`` ...) or your own exercise 4 (``from ex04_attention import
multi_head_attention``).  Not allowed: the library's later functions (``vit_lessons.layer_norm``, ``gelu``,
``mlp``, ``encoder_block``, ``encoder``, ``forward`` ...), torch's ``layer_norm`` / ``LayerNorm`` / ``gelu`` /
``GELU`` and ``torch.nn.TransformerEncoderLayer`` / ``TransformerEncoder``: LayerNorm, GELU and the block are
this exercise.
"""

import math  # noqa: F401

import numpy as np  # noqa: F401

# BEGIN SOLUTION
from scipy.special import erf

from vit_lessons import multi_head_attention

# END SOLUTION


def layer_norm(x, weight, bias, eps=1e-6):
    """LN(x) = (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance).

    x: (..., D); weight, bias: (D,).  eps = 1e-6 as in the paper's code (PyTorch's default is 1e-5).

    Example: ``layer_norm(np.array([[1., 2., 3.]]), np.ones(3), np.zeros(3))`` = [[-1.2247, 0, 1.2247]].
    """
    # BEGIN SOLUTION hint: mean and biased variance over the last axis, keepdims=True
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight.astype(x.dtype) + bias.astype(x.dtype)
    # END SOLUTION


def gelu(x):
    """The exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), not the tanh approximation.

    Example: gelu(1.0) = 0.8413.
    """
    # BEGIN SOLUTION hint: scipy.special.erf (numpy) or torch.special.erf (torch)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    # END SOLUTION


def encoder_block(x, params, num_heads):
    """One pre-LN block: x' = x + MSA(LN1(x)); y = x' + MLP(LN2(x')), MLP = fc2(GELU(fc1(.))).

    x: (T, D) or (B, T, D).  params (names of block i of a model without the ``"blocks.{i}."`` prefix):
    ``norm1.weight|bias`` (D,), ``attn.q|k|v|proj.weight`` (D, D) and ``.bias`` (D,), ``norm2.weight|bias``,
    ``mlp.fc1.weight`` (F, D), ``mlp.fc1.bias`` (F,), ``mlp.fc2.weight`` (D, F), ``mlp.fc2.bias`` (D,).
    LayerNorm eps = 1e-6.  Returns y, the shape of ``x``, in the dtype of ``x`` (float32 or float64; another
    dtype fails the test); the parameters are float32: cast them.

    Example: x (5, 8), num_heads 2, F = 16 -> (5, 8).  Block i of ``vit_lessons.init_params(cfg, seed)``:
    ``{k[len(f"blocks.{i}."):]: v for k, v in params.items() if k.startswith(f"blocks.{i}.")}``.
    """
    # BEGIN SOLUTION hint: normalise BEFORE each sub-layer; add its output to the un-normalised input
    p = {k: v.astype(x.dtype) for k, v in params.items()}
    attn = {k[len("attn."):]: v for k, v in p.items() if k.startswith("attn.")}
    h, _ = multi_head_attention(layer_norm(x, p["norm1.weight"], p["norm1.bias"]), attn, "", num_heads)
    x = x + h
    h = layer_norm(x, p["norm2.weight"], p["norm2.bias"])
    h = gelu(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"])
    return x + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
    # END SOLUTION
