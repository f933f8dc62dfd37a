"""Class 7: correct, torch only through a helper module (``from torch import nn`` there)."""

import numpy as np
from blocks import gelu as _gelu
from blocks import layer_norm as _layer_norm

import vit_lessons as V


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a))


def layer_norm(x, weight, bias, eps=1e-6):
    return _layer_norm(_t(x), _t(weight).to(_t(x).dtype), _t(bias).to(_t(x).dtype), eps).numpy()


def gelu(x):
    return _gelu(_t(x)).numpy()


def encoder_block(x, params, num_heads):
    p = {k: np.asarray(v, dtype=x.dtype) for k, v in params.items()}
    attn = {k[len("attn."):]: v for k, v in p.items() if k.startswith("attn.")}
    h, _ = V.multi_head_attention(layer_norm(x, p["norm1.weight"], p["norm1.bias"]), attn, "", num_heads)
    x = x + h
    h = gelu(layer_norm(x, p["norm2.weight"], p["norm2.bias"]) @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"])
    return x + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
