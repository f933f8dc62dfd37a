"""Exercise 10, as learners write it: the block's backward pass, head by head, with one mistake."""

import math

import numpy as np
from scipy.special import erf

MISTAKES = {None: None, "softmax_no_normalisation": None, "ln_no_mean_terms": None, "no_residual_gradient": None,
            "tanh_gelu_derivative": None, "float32_result": "float32_result", "bias_grad_not_summed": None}


def build(mistake=None):
    m = mistake

    def ln_forward(z, g, b):
        mu = z.mean(-1, keepdims=True)
        sd = np.sqrt(((z - mu) ** 2).mean(-1, keepdims=True) + 1e-6)
        zh = (z - mu) / sd
        return zh * g + b, zh, sd

    def ln_backward(dout, zh, sd, g):
        dzh = dout * g
        if m == "ln_no_mean_terms":
            return dzh / sd, (dout * zh).sum(0), dout.sum(0)
        D = zh.shape[-1]
        dz = (D * dzh - dzh.sum(-1, keepdims=True) - zh * (dzh * zh).sum(-1, keepdims=True)) / (D * sd)
        return dz, (dout * zh).sum(0), dout.sum(0)

    def gelu_grad(h):
        if m == "tanh_gelu_derivative":
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (h + 0.044715 * h ** 3))
            return 0.5 * (1 + t) + 0.5 * h * (1 - t ** 2) * c * (1 + 3 * 0.044715 * h ** 2)
        return 0.5 * (1 + erf(h / math.sqrt(2))) + h * np.exp(-h * h / 2) / math.sqrt(2 * math.pi)

    def block_backward(x, params, num_heads, dy):
        p = {k: v.astype(np.float32 if m == "float32_result" else x.dtype) for k, v in params.items()}
        if m == "float32_result":
            x, dy = x.astype(np.float32), dy.astype(np.float32)
        T, D = x.shape
        d = D // num_heads
        grads = {}

        def dense_back(inp, name, dout):
            grads[name + ".weight"] = dout.T @ inp
            grads[name + ".bias"] = dout[0] * T if m == "bias_grad_not_summed" else dout.sum(0)
            return dout @ p[name + ".weight"]

        h1, zh1, sd1 = ln_forward(x, p["norm1.weight"], p["norm1.bias"])
        qkv = {n: h1 @ p[f"attn.{n}.weight"].T + p[f"attn.{n}.bias"] for n in "qkv"}
        heads, probs = [], []
        for i in range(num_heads):
            q, k, v = (qkv[n][:, i * d:(i + 1) * d] for n in "qkv")
            s = q @ k.T / math.sqrt(d)
            a = np.exp(s - s.max(1, keepdims=True))
            a /= a.sum(1, keepdims=True)
            probs.append(a)
            heads.append(a @ v)
        cat = np.concatenate(heads, axis=1)
        mid = x + cat @ p["attn.proj.weight"].T + p["attn.proj.bias"]
        h2, zh2, sd2 = ln_forward(mid, p["norm2.weight"], p["norm2.bias"])
        f = h2 @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]
        act = 0.5 * f * (1 + erf(f / math.sqrt(2)))

        d_act = dense_back(act, "mlp.fc2", dy)
        d_h2 = dense_back(h2, "mlp.fc1", d_act * gelu_grad(f))
        d_mid2, grads["norm2.weight"], grads["norm2.bias"] = ln_backward(d_h2, zh2, sd2, p["norm2.weight"])
        d_mid = d_mid2 if m == "no_residual_gradient" else dy + d_mid2
        d_cat = dense_back(cat, "attn.proj", d_mid)
        dq, dk, dv = (np.zeros_like(qkv["q"]) for _ in range(3))
        for i in range(num_heads):
            sl = slice(i * d, (i + 1) * d)
            q, k, v, a, dout = qkv["q"][:, sl], qkv["k"][:, sl], qkv["v"][:, sl], probs[i], d_cat[:, sl]
            da = dout @ v.T
            dv[:, sl] = a.T @ dout
            ds = a * da if m == "softmax_no_normalisation" else a * (da - (da * a).sum(1, keepdims=True))
            ds /= math.sqrt(d)
            dq[:, sl], dk[:, sl] = ds @ k, ds.T @ q
        d_h1 = sum(dense_back(h1, f"attn.{n}", g) for n, g in zip("qkv", (dq, dk, dv), strict=True))
        d_x1, grads["norm1.weight"], grads["norm1.bias"] = ln_backward(d_h1, zh1, sd1, p["norm1.weight"])
        return d_mid + d_x1, {name: grads[name] for name in params}

    return {"block_backward": block_backward}
