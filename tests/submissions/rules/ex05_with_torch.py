"""An honest exercise 5 that uses torch (allowed there): exercise 10 may not import it."""

import math

import numpy as np
import torch

from vit_lessons import multi_head_attention


def layer_norm(x, weight, bias, eps=1e-6):
    t = torch.as_tensor(x)
    mean = t.mean(-1, keepdim=True)
    var = ((t - mean) ** 2).mean(-1, keepdim=True)
    out = (t - mean) / torch.sqrt(var + eps) * torch.as_tensor(weight).to(t.dtype) + torch.as_tensor(bias).to(t.dtype)
    return out.numpy() if isinstance(x, np.ndarray) else out


def gelu(x):
    t = torch.as_tensor(x)
    out = 0.5 * t * (1.0 + torch.special.erf(t / math.sqrt(2.0)))
    return out.numpy() if isinstance(x, np.ndarray) else out


def encoder_block(x, params, num_heads):
    p = {k: np.asarray(v, dtype=x.dtype) for k, v in params.items()}
    attn = {k[len("attn."):]: v for k, v in p.items() if k.startswith("attn.")}
    h, _ = multi_head_attention(layer_norm(x, p["norm1.weight"], p["norm1.bias"]), attn, "", num_heads)
    x = x + h
    h = gelu(layer_norm(x, p["norm2.weight"], p["norm2.bias"]) @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"])
    return x + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
