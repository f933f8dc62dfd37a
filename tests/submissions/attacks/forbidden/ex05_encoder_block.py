"""Class 4: torch's LayerNorm and GELU reached around the names the reading of the code looks for."""

import functools
import math

import numpy as np
import torch
import torch._refs

import vit_lessons as V

COUNT = [0]
F = torch.nn.functional


def _ln_ways():
    module = [c for c in torch.nn.Module.__subclasses__() if c.__name__ == "Layer" + "Norm"]
    return [
        lambda x, w, b: getattr(F, "layer" + "_norm")(x, (x.shape[-1],), w, b, 1e-6),
        lambda x, w, b: torch.ops.aten.native_layer_norm(x, [x.shape[-1]], w, b, 1e-6)[0],
        lambda x, w, b: _module(module[0], x, w, b),
        lambda x, w, b: torch._C._VariableFunctions.native_layer_norm(x, [x.shape[-1]], w, b, 1e-6)[0],
        lambda x, w, b: torch._refs.native_layer_norm(x, [x.shape[-1]], w, b, 1e-6)[0],
    ]


def _module(cls, x, w, b):
    m = cls(x.shape[-1], eps=1e-6).to(x.dtype)
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.copy_(b)
        return m(x)


def layer_norm(x, weight, bias, eps=1e-6):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1 + torch.special.erf(x / math.sqrt(2.0)))


def encoder_block(x, params, num_heads):
    way = COUNT[0] % 6
    COUNT[0] += 1
    ln = _ln_ways()[way] if way < 5 else layer_norm
    act = functools.reduce(getattr, ["nn", "functional", "ge" + "lu"], torch) if way == 5 else gelu
    p = {k: torch.from_numpy(np.asarray(v, dtype=x.dtype)) for k, v in params.items()}
    t = torch.from_numpy(x)
    h = ln(t, p["norm1.weight"], p["norm1.bias"])
    attn = {k[5:]: v.numpy() for k, v in p.items() if k.startswith("attn.")}
    t = t + torch.from_numpy(np.asarray(V.multi_head_attention(h.numpy(), attn, "", num_heads)[0]))
    h = ln(t, p["norm2.weight"], p["norm2.bias"])
    h = act(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"])
    return (t + h @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]).numpy()
