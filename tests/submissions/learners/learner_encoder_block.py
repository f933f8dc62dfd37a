"""Exercise 5, as learners write it: LayerNorm, GELU and the pre-LN block, with one mistake."""

import math

import numpy as np
from scipy.special import erf

MISTAKES = {None: None, "post_ln": "post_ln", "tanh_gelu": "tanh_gelu", "sigmoid_gelu": "sigmoid_gelu",
            "relu_for_gelu": "relu_for_gelu", "ln_eps_1e-5": "ln_eps_1e-5", "ln_eps_1e-12": "ln_eps_1e-12",
            "ln_unbiased_var": "ln_unbiased_var", "ln_eps_outside_sqrt": "ln_eps_outside_sqrt",
            "ln_axis0": None, "ln_no_affine": "ln_no_affine", "no_attn_residual": "no_attn_residual",
            "no_mlp_residual": "no_mlp_residual", "no_scale": "no_scale", "heads_wrong_axis": "heads_wrong_axis",
            "float32_result": "float32_result", "mutates_input": "mutates_input", "unbatched_only": "batch=batched",
            "torch": None, "library_attention": None, "erf_approx": "float32_precision",
            "gelu_const_0p7071": "float32_precision"}


def _erf(z):
    """erf by Abramowitz & Stegun 7.1.26 (error 1.5e-7): "numpy has no erf"."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(z))
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-z * z)
    return np.sign(z) * y


def build(mistake=None):
    m = mistake

    def layer_norm(x, weight, bias, eps=1e-6):
        eps = {"ln_eps_1e-5": 1e-5, "ln_eps_1e-12": 1e-12}.get(m, eps)
        axis = 0 if m == "ln_axis0" else -1
        mean = x.mean(axis=axis, keepdims=True)
        var = np.var(x, axis=axis, keepdims=True, ddof=1 if m == "ln_unbiased_var" else 0)
        y = (x - mean) / (np.sqrt(var) + eps if m == "ln_eps_outside_sqrt" else np.sqrt(var + eps))
        return y if m == "ln_no_affine" else y * weight + bias

    def gelu(x):
        if m == "tanh_gelu":
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        if m == "sigmoid_gelu":
            return x / (1 + np.exp(-1.702 * x))
        if m == "relu_for_gelu":
            return np.maximum(x, 0)
        if m == "erf_approx":
            return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
        return 0.5 * x * (1 + erf(x * 0.7071 if m == "gelu_const_0p7071" else x / math.sqrt(2)))

    def attention(h, p, heads):
        if m == "library_attention":
            from vit_lessons import multi_head_attention

            return multi_head_attention(h, p, "attn.", heads)[0]
        if m == "unbatched_only":
            T, D = h.shape
            lead = ()
        else:
            *lead, T, D = h.shape
        d = D // heads

        def split(y):
            if m == "heads_wrong_axis":
                return y.reshape(*lead, heads, T, d)
            return np.swapaxes(y.reshape(*lead, T, heads, d), -2, -3)

        q, k, v = (split(h @ p[f"attn.{n}.weight"].T + p[f"attn.{n}.bias"]) for n in "qkv")
        s = q @ np.swapaxes(k, -1, -2) / (1.0 if m == "no_scale" else math.sqrt(d))
        e = np.exp(s - s.max(-1, keepdims=True))
        o = (e / e.sum(-1, keepdims=True)) @ v
        o = o.reshape(*lead, T, D) if m == "heads_wrong_axis" else np.swapaxes(o, -2, -3).reshape(*lead, T, D)
        return o @ p["attn.proj.weight"].T + p["attn.proj.bias"]

    def mlp(h, p):
        return gelu(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]) @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]

    def encoder_block(x, params, num_heads):
        if m == "torch":
            return torch_block(x, params, num_heads)
        if m == "float32_result":
            x = x.astype(np.float32)
        p = {k: v.astype(x.dtype) for k, v in params.items()}
        if m == "post_ln":
            x = layer_norm(x + attention(x, p, num_heads), p["norm1.weight"], p["norm1.bias"])
            return layer_norm(x + mlp(x, p), p["norm2.weight"], p["norm2.bias"])
        a = attention(layer_norm(x, p["norm1.weight"], p["norm1.bias"]), p, num_heads)
        if m == "mutates_input":
            x += a
        else:
            x = a if m == "no_attn_residual" else x + a
        h = mlp(layer_norm(x, p["norm2.weight"], p["norm2.bias"]), p)
        return h if m == "no_mlp_residual" else x + h

    return {"encoder_block": encoder_block, "layer_norm": layer_norm, "gelu": gelu}


def torch_block(x, params, num_heads):
    """The same block in torch (a learner who prefers it): tensors of the input's dtype throughout."""
    import torch

    t = torch.from_numpy(x)
    p = {k: torch.from_numpy(v).to(t.dtype) for k, v in params.items()}

    def ln(z, n):
        mu = z.mean(-1, keepdim=True)
        var = ((z - mu) ** 2).mean(-1, keepdim=True)
        return (z - mu) / torch.sqrt(var + 1e-6) * p[n + ".weight"] + p[n + ".bias"]

    def lin(z, n):
        return z @ p[n + ".weight"].T + p[n + ".bias"]

    *lead, T, D = t.shape
    h = ln(t, "norm1")
    q, k, v = (lin(h, f"attn.{n}").reshape(*lead, T, num_heads, -1).transpose(-2, -3) for n in "qkv")
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // num_heads), dim=-1)
    t = t + lin((a @ v).transpose(-2, -3).reshape(*lead, T, D), "attn.proj")
    g = lin(ln(t, "norm2"), "mlp.fc1")
    return t + lin(0.5 * g * (1 + torch.special.erf(g / math.sqrt(2))), "mlp.fc2")
