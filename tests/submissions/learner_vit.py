"""A learner's numpy ViT (independent of the grader's oracle), with one known mistake switched on.

The buggy submissions of the catalogue are one-line files that call :func:`build`; the test copies this
module next to them.  Each mistake is written the way a learner would write it.  ``MISTAKES`` maps
every mistake this learner knows to the hint the grader must give for it (None: no hint is required;
a name with "=" is a property that exactly the failing tests share).
"""

import math

import numpy as np
from scipy.special import erf

import vit_lessons as V

MISTAKES = {
    None: None, "ln_eps_1e-5": "ln_eps_1e-5", "ln_eps_1e-12": "ln_eps_1e-12", "ln_unbiased_var": "ln_unbiased_var",
    "ln_eps_outside_sqrt": "ln_eps_outside_sqrt", "tanh_gelu": "tanh_gelu", "sigmoid_gelu": "sigmoid_gelu",
    "heads_wrong_axis": "heads_wrong_axis", "heads_interleaved": "heads_interleaved", "scale_by_D": "scale_by_D",
    "scale_by_heads": "scale_by_heads", "no_scale": "no_scale", "softmax_wrong_axis": "softmax_wrong_axis",
    "causal_mask": "causal_mask", "no_out_proj": "no_out_proj", "grid_transposed": "grid_transposed",
    "patch_order_cpp": "patch_order_cpp", "flatten_cpp": "flatten_cpp", "no_patch_bias": "no_patch_bias",
    "no_pos_embed": "no_pos_embed", "post_ln": "post_ln", "no_attn_residual": "no_attn_residual",
    "no_mlp_residual": "no_mlp_residual", "blocks_share_params": "blocks_share_params", "no_final_ln": "no_final_ln",
    "mean_over_features": "mean_over_features",
    "stride_in_config": "stride_not_patch", "stride_in_conv": "stride_not_patch", "float32_image": "float32_result",
    "float32_then_cast": "float32_values", "square_grid": "grid=non-square", "crops_image": "no_value_error",
    "torch": None, "d_ff_2x": "d_ff=D", "conv_stride_2": None, "forgot_channels": "channels=one|2",
    # 0.7071's error (1e-5 relative) grows past float32 rounding in some larger models: no one hint for all
    "erf_approx": "float32_precision", "gelu_const_0p7071": None, "float64_output": "float64_result",
}
#: with a class token, LayerNorm after pooling is LayerNorm of token 0: the same numbers, no mistake
MEAN_ONLY = {"cls_instead_of_mean": "cls_instead_of_mean", "ln_after_pool": "ln_after_pool"}
CLS_ONLY = {"pos_before_cls": "pos_before_cls", "cls_in_mean": "cls_in_mean",
            "mean_instead_of_cls": "mean_instead_of_cls"}


def _erf(z):
    """erf by Abramowitz & Stegun 7.1.26 (error 1.5e-7): "numpy has no erf"."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(z))
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-z * z)
    return np.sign(z) * y


def _patches(image, P, m):
    """(N, P*P*C) in row-major order (or the mistake's order), from non-overlapping or strided windows."""
    H, W, C = image.shape
    if m in ("stride_in_config", "stride_in_conv", "conv_stride_2"):  # "a strided convolution": stride 1 or 2
        s = 2 if m == "conv_stride_2" else 1  # 2: copied from the book's P = 2 example
        return np.stack([image[i:i + P, j:j + P].reshape(-1) for i in range(0, H - P + 1, s)
                         for j in range(0, W - P + 1, s)])
    gh, gw = H // P, (H // P if m == "square_grid" else W // P)
    grid = image.reshape(gh, P, gw, P, C).transpose(0, 2, 1, 3, 4)
    if m == "grid_transposed":
        grid = grid.transpose(1, 0, 2, 3, 4)
    if m == "flatten_cpp":
        grid = grid.transpose(0, 1, 4, 2, 3)
    return grid.reshape(-1, P * P * C)


def build(pool, mistake=None):
    m = mistake
    if m == "torch":
        return _torch_vit(pool)

    def forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
        dtype = image.dtype
        if m in ("float32_image", "float32_then_cast"):
            image = image.astype(np.float32)
        H, W, C = image.shape
        P, D = patch_size, d_model
        if m == "crops_image":  # "resize or crop the image first", done silently
            H, W = H // P * P, W // P * P
            image = image[:H, :W]
        more = {} if m == "forgot_channels" else {"channels": C}  # the book's example: RGB, channels left out
        cfg = V.ViTConfig(image_size=(H, W), patch_size=P, d_model=D, num_heads=num_heads,
                          d_ff=2 * D if m == "d_ff_2x" else d_ff, num_layers=num_layers, num_classes=num_classes,
                          pool=pool, stride=1 if m == "stride_in_config" else None, **more)
        p = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
        eps = {"ln_eps_1e-5": 1e-5, "ln_eps_1e-12": 1e-12}.get(m, 1e-6)

        def ln(x, name):
            mu = x.mean(-1, keepdims=True)
            var = np.var(x, axis=-1, keepdims=True, ddof=1 if m == "ln_unbiased_var" else 0)
            y = (x - mu) / (np.sqrt(var) + eps if m == "ln_eps_outside_sqrt" else np.sqrt(var + eps))
            return y * p[name + ".weight"] + p[name + ".bias"]

        def gelu(x):
            if m == "tanh_gelu":
                return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            if m == "sigmoid_gelu":
                return x / (1 + np.exp(-1.702 * x))
            if m == "erf_approx":
                return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
            return 0.5 * x * (1 + erf(x * 0.7071 if m == "gelu_const_0p7071" else x / math.sqrt(2)))

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
            s = s / {"scale_by_D": math.sqrt(D), "scale_by_heads": math.sqrt(num_heads), "no_scale": 1.0}.get(
                m, math.sqrt(d))
            if m == "causal_mask":
                s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
            axis = -2 if m == "softmax_wrong_axis" else -1
            e = np.exp(s - s.max(axis, keepdims=True))
            o = (e / e.sum(axis, keepdims=True)) @ v
            if m == "heads_wrong_axis":
                o = o.reshape(T, D)
            elif m == "heads_interleaved":
                o = o.transpose(1, 2, 0).reshape(T, D)
            else:
                o = o.transpose(1, 0, 2).reshape(T, D)
            return o if m == "no_out_proj" else lin(o, f"{b}attn.proj")

        w = p["patch_embed.weight"]
        kernel = w.reshape(D, -1) if m == "patch_order_cpp" else w.transpose(0, 2, 3, 1).reshape(D, -1)
        x = _patches(image, P, m) @ kernel.T
        if m != "no_patch_bias":
            x = x + p["patch_embed.bias"]
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
            b = "blocks.0." if m == "blocks_share_params" else f"blocks.{i}."
            if m == "post_ln":
                x = ln(x + attention(x, b), b + "norm1")
                x = ln(x + lin(gelu(lin(x, b + "mlp.fc1")), b + "mlp.fc2"), b + "norm2")
                continue
            a = attention(ln(x, b + "norm1"), b)
            x = a if m == "no_attn_residual" else x + a
            h = lin(gelu(lin(ln(x, b + "norm2"), b + "mlp.fc1")), b + "mlp.fc2")
            x = h if m == "no_mlp_residual" else x + h
        if m not in ("no_final_ln", "ln_after_pool"):
            x = ln(x, "norm")
        if m == "mean_over_features":
            pooled = x.mean(axis=-1)
        elif m in ("cls_in_mean", "mean_instead_of_cls") and pool == "cls":
            pooled = x.mean(axis=0) if m == "cls_in_mean" else x[1:].mean(axis=0)
        elif pool == "cls" or m == "cls_instead_of_mean":
            pooled = x[0]
        else:
            pooled = x.mean(axis=0)
        if m == "ln_after_pool":
            pooled = ln(pooled, "norm")
        logits = (pooled @ p["head.weight"].T + p["head.bias"]).reshape(-1)
        if m == "float64_output":  # "float64 to be safe"
            return logits.astype(np.float64)
        return logits.astype(dtype) if m == "float32_then_cast" else logits

    return forward


def _torch_vit(pool):
    """The same model in torch, tensors in the image's dtype (a correct learner who prefers torch)."""
    import torch
    import torch.nn.functional as F

    def forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
        H, W, C = image.shape
        cfg = V.ViTConfig(image_size=(H, W), channels=C, patch_size=patch_size, d_model=d_model, num_heads=num_heads,
                          d_ff=d_ff, num_layers=num_layers, num_classes=num_classes, pool=pool)
        x = torch.from_numpy(image)
        p = {k: torch.from_numpy(v).to(x.dtype) for k, v in V.init_params(cfg, seed).items()}

        def ln(z, n):
            mu = z.mean(-1, keepdim=True)
            return (z - mu) / torch.sqrt(((z - mu) ** 2).mean(-1, keepdim=True) + 1e-6) * p[n + ".weight"] \
                + p[n + ".bias"]

        def lin(z, n):
            return z @ p[n + ".weight"].T + p[n + ".bias"]

        z = F.conv2d(x.permute(2, 0, 1)[None], p["patch_embed.weight"], p["patch_embed.bias"], stride=patch_size)
        z = z[0].flatten(1).T
        if pool == "cls":
            z = torch.cat([p["cls_token"][None], z])
        z = z + p["pos_embed"]
        T, d = z.shape[0], d_model // num_heads
        for i in range(num_layers):
            b = f"blocks.{i}."
            h = ln(z, b + "norm1")
            q, k, v = (lin(h, f"{b}attn.{n}").reshape(T, num_heads, d).transpose(0, 1) for n in "qkv")
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)
            z = z + lin((a @ v).transpose(0, 1).reshape(T, d_model), b + "attn.proj")
            z = z + lin(F.gelu(lin(ln(z, b + "norm2"), b + "mlp.fc1")), b + "mlp.fc2")
        z = ln(z, "norm")
        pooled = z[0] if pool == "cls" else z.mean(0)
        return lin(pooled, "head")

    return forward
