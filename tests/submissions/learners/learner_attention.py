"""Exercise 4, as learners write it: attention and multi-head attention, with one mistake."""

import math

import numpy as np

MISTAKES = {None: None, "no_scale": "no_scale", "scale_without_sqrt": "scale_without_sqrt", "scale_by_D": "scale_by_D",
            "scale_by_heads": "scale_by_heads", "softmax_wrong_axis": "softmax_wrong_axis",
            "softmax_overflow": "softmax_overflow", "heads_wrong_axis": "heads_wrong_axis",
            "heads_interleaved": "heads_interleaved", "no_out_proj": "no_out_proj", "causal_mask": "causal_mask",
            "k_dot_T": None, "unbatched_mha": None, "torch_no_cast": None, "returns_output_only": None,
            "float32_result": "dtype=float64", "torch": None, "float64_output": "float64_result"}


def build(mistake=None):
    m = mistake

    def softmax(s):
        if m == "softmax_overflow":
            e = np.exp(s)
            return e / e.sum(-1, keepdims=True)
        axis = -2 if m == "softmax_wrong_axis" else -1
        e = np.exp(s - s.max(axis, keepdims=True))
        return e / e.sum(axis, keepdims=True)

    def scaled_dot_product_attention(q, k, v, scale=None):
        if m == "torch":
            import torch

            q, k, v = (torch.from_numpy(a) for a in (q, k, v))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
            return (a @ v).numpy(), a.numpy()
        kt = k.T if m == "k_dot_T" else np.swapaxes(k, -1, -2)
        d = q.shape[-1]
        s = q @ kt
        if scale is None:
            scale = {"no_scale": 1.0, "scale_without_sqrt": 1 / d}.get(m, 1 / math.sqrt(d))
        s = s * scale
        if m == "causal_mask":
            s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
        a = softmax(s.astype(np.float64) if m == "float64_output" else s)  # "float64 for stability"
        out = a @ v
        if m == "float32_result":
            out, a = out.astype(np.float32), a.astype(np.float32)
        return out if m == "returns_output_only" else (out, a)

    def multi_head_attention(x, params, num_heads):
        if m == "torch_no_cast":
            import torch

            t = torch.from_numpy(x)
            p = {k: torch.from_numpy(v) for k, v in params.items()}  # float32, whatever x is
            lin = lambda z, n: z @ p[n + ".weight"].T + p[n + ".bias"]  # noqa: E731
        else:
            p = {k: v.astype(x.dtype) for k, v in params.items()}
            lin = lambda z, n: z @ p[n + ".weight"].T + p[n + ".bias"]  # noqa: E731
            t = x
        if m == "unbatched_mha":
            T, D = x.shape
            lead = ()
        else:
            *lead, T, D = x.shape
        H, d = num_heads, D // num_heads

        def split(y):
            if m == "heads_wrong_axis":
                return y.reshape(*lead, H, T, d)
            if m == "heads_interleaved":
                return np.moveaxis(y.reshape(*lead, T, d, H), -1, -3)
            return np.swapaxes(y.reshape(*lead, T, H, d), -2, -3)

        def merge(o):
            if m == "heads_wrong_axis":
                return o.reshape(*lead, T, D)
            if m == "heads_interleaved":
                return np.moveaxis(o, -3, -1).reshape(*lead, T, D)
            return np.swapaxes(o, -2, -3).reshape(*lead, T, D)

        if m == "torch_no_cast":
            q, k, v = (lin(t, n).reshape(*lead, T, H, d).transpose(-2, -3) for n in "qkv")
            a = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(-1)
            out = lin((a @ v).transpose(-2, -3).reshape(*lead, T, D), "proj")
            return out.numpy(), a.numpy()
        q, k, v = (split(lin(x, n)) for n in "qkv")
        scale = {"scale_by_D": 1 / math.sqrt(D), "scale_by_heads": 1 / math.sqrt(H)}.get(m)
        result = scaled_dot_product_attention(q, k, v, scale)
        o, a = result if isinstance(result, tuple) else (result, None)
        merged = merge(o)
        out = merged if m == "no_out_proj" else lin(merged, "proj")
        return out if m == "returns_output_only" else (out, a)

    return {"scaled_dot_product_attention": scaled_dot_product_attention,
            "multi_head_attention": multi_head_attention}
