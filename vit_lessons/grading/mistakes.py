"""The reference computation of every exercise, with switches that make one known mistake.

``reference(exercise, func, args, mistake=None)`` computes what the exercise's function should return,
composed from the library's building blocks (``vit_lessons.patchify``, ``linear``, ``layer_norm``,
``split_heads``, ``scaled_dot_product_attention`` ...).  With ``mistake`` set, exactly one stage is swapped
for its classic wrong version (post-LN blocks, a softmax over the queries, ...).  The grader compares a
learner's wrong output with each variant of :data:`EXERCISE_MISTAKES` and names the one that matches,
with the one-sentence hint of :data:`HINTS`.  The self-check uses the plain reference as its expected value.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

import vit_lessons as V
from vit_lessons.backward import encoder_block_backward

HINTS: dict[str, str] = {
    "no_pos_embed": "You never add the position embedding: add params['pos_embed'] to the tokens right after the "
                    "patch embedding.",
    "pos_before_cls": "You add the positions before prepending the class token: concatenate [cls_token; tokens] "
                      "first, then add the whole (N + 1, D) pos_embed.",
    "post_ln": "Your blocks normalise after the residual addition (post-LN): apply LayerNorm to the input of the "
               "attention and of the MLP, and add their outputs to the un-normalised stream (pre-LN).",
    "no_final_ln": "You skip the final LayerNorm: normalise the tokens with norm.weight and norm.bias after the "
                   "last block, before pooling.",
    "mean_over_features": "You average over the feature axis: average over the tokens instead (axis 0 of an "
                          "(N, D) array, axis -2 in general).",
    "cls_in_mean": "Your mean includes the class token: average only the patch tokens, x[..., 1:, :].",
    "cls_instead_of_mean": "You take token 0 where the mean over the patch tokens was asked: a mean-pooled model has "
                           "no class token, so average all N tokens.",
    "mean_instead_of_cls": "You average the patch tokens where the class token was asked: return token 0 after the "
                           "final LayerNorm.",
    "no_scale": "Your attention scores miss the 1/sqrt(d) scale: divide Q K^T by the square root of the head "
                "width d = D / num_heads.",
    "scale_by_D": "You scale the scores by 1/sqrt(D): use the head width d = D / num_heads, not the model width.",
    "softmax_wrong_axis": "Your softmax normalises over the queries: take it over the last axis (the keys), so "
                          "that every row of the attention sums to 1.",
    "tanh_gelu": "You use the tanh approximation of GELU: use the exact 0.5 x (1 + erf(x / sqrt(2))) (in torch, "
                 "F.gelu(x) without approximate='tanh').",
    "ln_eps_1e-5": "Your LayerNorm uses eps = 1e-5 (PyTorch's default): this model uses eps = 1e-6 (e.g. "
                   "F.layer_norm(x, (D,), w, b, eps=1e-6)).",
    "heads_wrong_axis": "You split the heads with a plain reshape to (heads, T, d): reshape to (T, heads, d) "
                        "first and then swap the first two axes (and undo it the same way).",
    "heads_interleaved": "Your heads take interleaved features (a reshape to (T, d, heads)): head h takes the "
                         "consecutive features h*d ... (h+1)*d - 1, a reshape to (T, heads, d).",
    "patch_order_cpp": "Your patches are flattened in (P, P, C) order but the kernel in its (C, P, P) order: "
                       "permute the kernel to (D, P, P, C) before reshaping it to (D, P*P*C).",
    "grid_transposed": "Your patch tokens run down the columns: order them row by row (left to right, then top "
                       "to bottom), as a (H/P, W/P) grid read in row-major order.",
    "flatten_cpp": "Your patches are flattened channel-first, (C, P, P): flatten each patch in (P, P, C) order, "
                   "as the reshape to (H/P, P, W/P, P, C) followed by swapping axes 1 and 2 gives.",
    "no_transpose": "You reshape the image straight to (N, P*P*C), which cuts strips of rows: reshape to "
                    "(H/P, P, W/P, P, C) and swap axes 1 and 2 before flattening.",
    "sincos_axes_swapped": "Your first half encodes the column: the first dim/2 features encode the patch's row, "
                           "the last dim/2 its column.",
    "sin_cos_swapped": "Your halves start with the cosines: each half is the sines first, then the cosines.",
    "rollout_order": "You multiply the layers in the wrong order: the later layer goes on the left, "
                     "R = A_L ... A_2 A_1.",
    "rollout_no_identity": "You forgot the residual connection: use 0.5 A + 0.5 I before multiplying the layers.",
    "rollout_no_renorm": "You add the identity without re-normalising: divide every row of A + I by its sum "
                         "(equivalently use 0.5 A + 0.5 I).",
    "rollout_max_heads": "You fuse the heads with their maximum: this rollout averages the heads.",
    "rollout_column": "You read the class token's column: read its row, R[0, 1:] (what the class token takes from "
                      "each patch).",
}

_ATTENTION = ["no_scale", "scale_by_D", "softmax_wrong_axis", "heads_wrong_axis", "heads_interleaved"]
_BLOCK = ["post_ln", "tanh_gelu", "ln_eps_1e-5", *_ATTENTION]
_MODEL = ["no_pos_embed", "no_final_ln", "mean_over_features", *_BLOCK, "patch_order_cpp", "grid_transposed"]

#: exercise -> function -> the mistakes tried when its output is wrong
EXERCISE_MISTAKES: dict[str, dict[str, list[str]]] = {
    "patchify": {"patchify": ["flatten_cpp", "no_transpose", "grid_transposed"], "unpatchify": []},
    "patch_embedding": {"patch_embedding": ["patch_order_cpp", "grid_transposed"]},
    "positional_embedding": {"sincos_2d": ["sincos_axes_swapped", "sin_cos_swapped"],
                             "add_positions": ["no_pos_embed", "pos_before_cls"]},
    "attention": {"scaled_dot_product_attention": ["no_scale", "softmax_wrong_axis"],
                  "multi_head_attention": _ATTENTION},
    "encoder_block": {"encoder_block": _BLOCK},
    "pooling": {"pool": ["mean_over_features", "cls_in_mean", "cls_instead_of_mean", "mean_instead_of_cls"]},
    "vit_forward": {"vit_forward": [*_MODEL, "cls_instead_of_mean"]},
    "vit_forward_cls": {"vit_forward_cls": [*_MODEL, "pos_before_cls", "mean_instead_of_cls", "cls_in_mean"]},
    "rollout": {"rollout": ["rollout_order", "rollout_no_identity", "rollout_no_renorm", "rollout_max_heads",
                            "rollout_column"]},
    "block_backward": {"block_backward": []},
}


# ---- the stages, each with its wrong versions ------------------------------------------------------------
def _split(x, heads, m):
    *lead, T, D = x.shape
    if m == "heads_wrong_axis":
        return x.reshape(*lead, heads, T, D // heads)
    if m == "heads_interleaved":
        return np.moveaxis(x.reshape(*lead, T, D // heads, heads), -1, -3)
    return V.split_heads(x, heads)


def _merge(o, m):
    *lead, H, T, d = o.shape
    if m == "heads_wrong_axis":
        return o.reshape(*lead, T, H * d)
    if m == "heads_interleaved":
        return np.moveaxis(o, -3, -1).reshape(*lead, T, H * d)
    return V.merge_heads(o)


def _sdpa(q, k, v, m, width=None):
    if m not in ("no_scale", "scale_by_D", "softmax_wrong_axis"):
        return V.scaled_dot_product_attention(q, k, v)
    scale = {"no_scale": 1.0, "scale_by_D": 1.0 / math.sqrt(width or q.shape[-1])}.get(m, 1.0 / math.sqrt(q.shape[-1]))
    probs = V.softmax(np.matmul(q, np.swapaxes(k, -1, -2)) * scale, axis=-2 if m == "softmax_wrong_axis" else -1)
    return probs @ v, probs


def _mha(x, p, heads, m):
    q, k, v = (_split(V.linear(x, p[f"{n}.weight"], p[f"{n}.bias"]), heads, m) for n in "qkv")
    out, probs = _sdpa(q, k, v, m, width=x.shape[-1])
    return V.linear(_merge(out, m), p["proj.weight"], p["proj.bias"]), probs


def _ln(x, w, b, m):
    return V.layer_norm(x, w, b, 1e-5 if m == "ln_eps_1e-5" else 1e-6)


def _gelu(x, m):
    if m == "tanh_gelu":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return V.gelu(x)


def _sub(p, prefix):
    return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}


def _block(x, p, heads, m):
    def mlp(h):
        return V.linear(_gelu(V.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"]), m),
                        p["mlp.fc2.weight"], p["mlp.fc2.bias"])

    attn = _sub(p, "attn.")
    if m == "post_ln":
        x = _ln(x + _mha(x, attn, heads, m)[0], p["norm1.weight"], p["norm1.bias"], m)
        return _ln(x + mlp(x), p["norm2.weight"], p["norm2.bias"], m)
    x = x + _mha(_ln(x, p["norm1.weight"], p["norm1.bias"], m), attn, heads, m)[0]
    return x + mlp(_ln(x, p["norm2.weight"], p["norm2.bias"], m))


def _patch_tokens(image, w, b, m):
    D, _, P, _ = w.shape
    E = w.reshape(D, -1) if m == "patch_order_cpp" else V.patch_embed_matrix(w)
    tokens = V.linear(V.patchify(image, P), E, b)
    if m == "grid_transposed":
        H, W = image.shape[-3:-1]
        tokens = np.swapaxes(tokens.reshape(H // P, W // P, D), 0, 1).reshape(-1, D)
    return tokens


def _add_positions(tokens, pos, cls, m):
    if m == "no_pos_embed":
        return tokens if cls is None else V.prepend_cls(tokens, cls)
    if cls is None:
        return tokens + pos
    if m == "pos_before_cls":
        return V.prepend_cls(tokens + pos[1:], cls)
    return V.prepend_cls(tokens, cls) + pos


def _pool(z, mode, prefix, m):
    if m == "mean_over_features":
        return z.mean(axis=-1)
    if m == "cls_in_mean" and prefix:
        return z.mean(axis=-2)
    if m == "cls_instead_of_mean" and mode == "mean":
        return z[..., 0, :]
    if m == "mean_instead_of_cls" and mode == "cls":
        return z[..., 1:, :].mean(axis=-2)
    return z[..., 0, :] if mode == "cls" else z[..., prefix:, :].mean(axis=-2)


def vit(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes, *, pool, mistake=None):
    """The model of exercises 7 (pool="mean") and 8 (pool="cls"), with at most one mistake."""
    m = mistake
    cfg = V.ViTConfig(image_size=image.shape[:2], channels=image.shape[2], patch_size=patch_size, d_model=d_model,
                      num_heads=num_heads, d_ff=d_ff, num_layers=num_layers, num_classes=num_classes, pool=pool)
    p = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
    tokens = _patch_tokens(image, p["patch_embed.weight"], p["patch_embed.bias"], m)
    z = _add_positions(tokens, p["pos_embed"], p.get("cls_token"), m)
    for i in range(num_layers):
        z = _block(z, _sub(p, f"blocks.{i}."), num_heads, m)
    if m != "no_final_ln":
        z = _ln(z, p["norm.weight"], p["norm.bias"], m)
    return V.head(_pool(z, pool, cfg.num_prefix_tokens, m), p).reshape(-1)


def _rollout(attentions, m):
    T = attentions.shape[-1]
    eye = np.eye(T, dtype=attentions.dtype)
    R = eye
    for layer in attentions:
        A = layer.max(axis=0) if m == "rollout_max_heads" else layer.mean(axis=0)
        if m == "rollout_no_renorm":
            A = A + eye
        elif m != "rollout_no_identity":
            A = 0.5 * A + 0.5 * eye
            A = A / A.sum(axis=-1, keepdims=True)
        R = R @ A if m == "rollout_order" else A @ R
    return R[1:, 0] if m == "rollout_column" else R[0, 1:]


def _patchify(image, patch_size, m):
    P = patch_size
    H, W, C = image.shape
    if m == "no_transpose":
        return image.reshape(-1, P * P * C)
    patches = V.patchify(image, P)
    if m == "flatten_cpp":
        return np.moveaxis(patches.reshape(-1, P, P, C), -1, 1).reshape(-1, P * P * C)
    if m == "grid_transposed":
        return np.swapaxes(patches.reshape(H // P, W // P, -1), 0, 1).reshape(-1, P * P * C)
    return patches


def _sincos(grid_size, dim, m):
    if m is None:
        return V.sincos_2d(grid_size, dim)
    gh, gw = grid_size
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    halves = [V.sincos_1d(rows.ravel(), dim // 2), V.sincos_1d(cols.ravel(), dim // 2)]
    if m == "sincos_axes_swapped":
        halves.reverse()
    else:
        halves = [np.concatenate([h[:, dim // 4:], h[:, :dim // 4]], axis=1) for h in halves]
    return np.concatenate(halves, axis=1)


def _block_backward(x, params, num_heads, dy):
    prefixed = {f"blocks.0.{k}": v for k, v in params.items()}
    dx, grads = encoder_block_backward(x, prefixed, 0, SimpleNamespace(num_heads=num_heads, ln_eps=1e-6), dy)
    return dx, {k: grads[f"blocks.0.{k}"] for k in params}


_FUNCTIONS = {
    ("patchify", "patchify"): lambda a, m: _patchify(*a, m),
    ("patchify", "unpatchify"): lambda a, m: V.unpatchify(a[0], a[1], (a[2][0] // a[1], a[2][1] // a[1]),
                                                           a[0].shape[-1] // (a[1] * a[1])),
    ("patch_embedding", "patch_embedding"): lambda a, m: _patch_tokens(a[0], a[1].astype(a[0].dtype),
                                                                       a[2].astype(a[0].dtype), m),
    ("positional_embedding", "sincos_2d"): lambda a, m: _sincos(*a, m),
    ("positional_embedding", "add_positions"): lambda a, m: _add_positions(
        a[0], a[1].astype(a[0].dtype), None if a[2] is None else a[2].astype(a[0].dtype), m),
    ("attention", "scaled_dot_product_attention"): lambda a, m: _sdpa(*a, m),
    ("attention", "multi_head_attention"): lambda a, m: _mha(a[0], {k: v.astype(a[0].dtype) for k, v in a[1].items()},
                                                             a[2], m),
    ("encoder_block", "encoder_block"): lambda a, m: _block(a[0], {k: v.astype(a[0].dtype) for k, v in a[1].items()},
                                                            a[2], m),
    ("pooling", "pool"): lambda a, m: _pool(a[0], a[1], a[2] if len(a) > 2 else 0, m),
    ("vit_forward", "vit_forward"): lambda a, m: vit(*a, pool="mean", mistake=m),
    ("vit_forward_cls", "vit_forward_cls"): lambda a, m: vit(*a, pool="cls", mistake=m),
    ("rollout", "rollout"): lambda a, m: _rollout(a[0], m),
    ("block_backward", "block_backward"): lambda a, m: _block_backward(*a),
}


def reference(exercise: str, func: str, args: tuple, mistake: str | None = None):
    """What ``func`` of ``exercise`` returns for ``args``; with ``mistake``, what that mistake returns."""
    if (exercise, func) not in _FUNCTIONS:
        raise ValueError(f"exercise={exercise!r}, func={func!r}: no such exercise function "
                         f"(expected one of {sorted(_FUNCTIONS)})")
    if mistake is not None and mistake not in HINTS:
        raise ValueError(f"mistake={mistake!r}: expected one of {sorted(HINTS)}")
    return _FUNCTIONS[exercise, func](tuple(args), mistake)


def variants(exercise: str, func: str, args: tuple) -> dict[str, object]:
    """mistake -> what it returns, for every mistake of ``func`` that can be computed for these inputs."""
    out = {}
    for m in EXERCISE_MISTAKES.get(exercise, {}).get(func, []):
        try:
            out[m] = reference(exercise, func, args, m)
        except Exception:  # noqa: BLE001, S112 - a mistake that cannot even run on these shapes is no match
            continue
    return out
