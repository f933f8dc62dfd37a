"""A learner's numpy ViT (independent of the grader's reference), with one known mistake switched on.

The buggy submissions of the catalogue are one-line files that call :func:`build`; the test copies this
module next to them.  Each mistake is written the way a learner would write it.
"""

import math

import numpy as np
from scipy.special import erf

import vit_lessons as V


def build(pool, mistake=None):
    def forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
        m = mistake
        H, W, C = image.shape
        P, D = patch_size, d_model
        cfg = V.ViTConfig(image_size=(H, W), channels=C, patch_size=P, d_model=D, num_heads=num_heads, d_ff=d_ff,
                          num_layers=num_layers, num_classes=num_classes, pool=pool)
        p = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
        eps = 1e-5 if m == "ln_eps_1e-5" else 1e-6

        def ln(x, name):
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            return (x - mu) / np.sqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]

        def gelu(x):
            if m == "tanh_gelu":
                return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            return 0.5 * x * (1 + erf(x / math.sqrt(2)))

        def lin(x, name):
            return x @ p[name + ".weight"].T + p[name + ".bias"]

        def attention(x, b):
            T = x.shape[0]
            d = D // num_heads

            def split(y):
                if m == "heads_wrong_axis":
                    return y.reshape(num_heads, T, d)
                if m == "heads_interleaved":
                    return y.reshape(T, d, num_heads).transpose(2, 0, 1)
                return y.reshape(T, num_heads, d).transpose(1, 0, 2)

            q, k, v = (split(lin(x, f"{b}attn.{n}")) for n in "qkv")
            s = q @ k.transpose(0, 2, 1)
            if m == "scale_by_D":
                s = s / math.sqrt(D)
            elif m != "no_scale":
                s = s / math.sqrt(d)
            axis = -2 if m == "softmax_wrong_axis" else -1
            e = np.exp(s - s.max(axis, keepdims=True))
            a = e / e.sum(axis, keepdims=True)
            o = a @ v
            if m == "heads_wrong_axis":
                o = o.reshape(T, D)
            elif m == "heads_interleaved":
                o = o.transpose(1, 2, 0).reshape(T, D)
            else:
                o = o.transpose(1, 0, 2).reshape(T, D)
            return lin(o, f"{b}attn.proj")

        w = p["patch_embed.weight"]
        patches = image.reshape(H // P, P, W // P, P, C).transpose(0, 2, 1, 3, 4)
        if m == "grid_transposed":
            patches = patches.transpose(1, 0, 2, 3, 4)
        patches = patches.reshape(-1, P * P * C)
        kernel = w.reshape(D, -1) if m == "patch_order_cpp" else w.transpose(0, 2, 3, 1).reshape(D, -1)
        x = patches @ kernel.T + p["patch_embed.bias"]
        if pool == "cls":
            if m == "pos_before_cls":
                x = np.concatenate([p["cls_token"][None], x + p["pos_embed"][1:]])
            elif m == "no_pos_embed":
                x = np.concatenate([p["cls_token"][None], x])
            else:
                x = np.concatenate([p["cls_token"][None], x]) + p["pos_embed"]
        elif m != "no_pos_embed":
            x = x + p["pos_embed"]
        for i in range(num_layers):
            b = f"blocks.{i}."
            if m == "post_ln":
                x = ln(x + attention(x, b), b + "norm1")
                x = ln(x + lin(gelu(lin(x, b + "mlp.fc1")), b + "mlp.fc2"), b + "norm2")
            else:
                x = x + attention(ln(x, b + "norm1"), b)
                x = x + lin(gelu(lin(ln(x, b + "norm2"), b + "mlp.fc1")), b + "mlp.fc2")
        if m != "no_final_ln":
            x = ln(x, "norm")
        if m == "mean_over_features":
            pooled = x.mean(axis=-1)
        elif m in ("cls_in_mean", "mean_instead_of_cls") and pool == "cls":
            pooled = x.mean(axis=0) if m == "cls_in_mean" else x[1:].mean(axis=0)
        elif pool == "cls" or m == "cls_instead_of_mean":
            pooled = x[0]
        else:
            pooled = x.mean(axis=0)
        return (pooled @ p["head.weight"].T + p["head.bias"]).reshape(-1)

    return forward
