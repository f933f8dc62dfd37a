"""The grader's one oracle: what each exercise function should return, from the library's building blocks.

The grader, the self-check and the mistake hints all take their expected values from here.  Every
computation is composed of *stages* (``patchify``, ``layer_norm``, ``softmax``, ``block``, ``pool`` ...),
read from a :class:`Stages`; a known mistake (:mod:`vit_lessons.grading.mistakes`) swaps one or more of
them for its classic wrong version, so that "what would this mistake have returned" is the same code with
one stage replaced.  The stages are numpy, in the dtype of the inputs (float32 parameters are cast to a
float64 input's dtype).  Exercise-specific stages (rollout, sine-cosine) are registered by their exercise's
definition in :mod:`vit_lessons.grading.exercises`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import vit_lessons as V

from .mistakes import mismatched_sizes, mistake

STAGES: dict[str, Callable] = {}


def stage(fn: Callable) -> Callable:
    """Register ``fn`` as the correct version of the stage of its name."""
    STAGES[fn.__name__] = fn
    return fn


class Stages:
    """The stages of one computation: the correct ones, with ``overrides`` (stage name -> function)."""

    def __init__(self, overrides: dict[str, Callable] | None = None):
        self._overrides = dict(overrides or {})

    def __getattr__(self, name: str) -> Callable:
        overrides = self.__dict__.get("_overrides", {})
        if name in overrides:
            return overrides[name]
        if name in STAGES:
            return STAGES[name]
        raise AttributeError(f"no stage {name!r} (registered: {sorted(STAGES)})")


CORRECT = Stages()


def sub(params: dict, prefix: str) -> dict:
    """The entries of ``params`` under ``prefix``, with the prefix taken off."""
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def cast(params: dict, like: np.ndarray) -> dict:
    return {k: np.asarray(v).astype(like.dtype) for k, v in params.items()}


# ---- patches and the patch embedding (chapters 1-2) ---------------------------------------------------------
@stage
def patchify(image, P):
    """(H, W, C) -> (N, P*P*C): row-major grid, each patch flattened (P, P, C)."""
    return V.patchify(image, P)


@stage
def patch_kernel(weight):
    """(D, C, P, P) -> E^T (D, P*P*C), permuted to the patches' (P, P, C) order."""
    return V.patch_embed_matrix(weight)


@stage
def patch_bias(bias):
    return bias


@stage
def stride(P):
    """The patch embedding's stride: the patch size (non-overlapping patches)."""
    return P


def patch_tokens(S: Stages, image, weight, bias):
    """x_p E + b: (H, W, C) -> (N, D) (computed in the image's dtype)."""
    weight, bias = weight.astype(image.dtype), bias.astype(image.dtype)
    P, s = weight.shape[-1], S.stride(weight.shape[-1])
    if s == P:
        flat = S.patchify(image, P)
    else:  # overlapping (or gapped) windows: another N
        windows = V.conv_windows(image, P, s)
        flat = windows.reshape(-1, P * P * image.shape[-1])
    return V.linear(flat, S.patch_kernel(weight), S.patch_bias(bias))


def _flatten_cpp(image, P):
    patches = V.patchify(image, P)
    return np.moveaxis(patches.reshape(-1, P, P, image.shape[-1]), -1, 1).reshape(patches.shape)


def _grid_transposed(image, P):
    H, W, _ = image.shape
    patches = V.patchify(image, P)
    return np.swapaxes(patches.reshape(H // P, W // P, -1), 0, 1).reshape(patches.shape)


def _no_transpose(image, P):
    V.patchify(image, P)  # the same ValueError for sides that P does not divide
    return image.reshape(-1, P * P * image.shape[-1])


def _stride_tokens(case_args) -> set[int]:
    """Token counts of overlapping windows (stride 1 .. P-1) for a case's image and patch size."""
    image, P = case_args[1], case_args[2]
    H, W = image.shape[:2]
    return {((H - P) // s + 1) * ((W - P) // s + 1) for s in range(1, P)} - {(H // P) * (W // P)}


def _recognise_stride(case, message: str) -> bool:
    """A model whose tokens come from overlapping windows fails where it adds the (N, D) positions to its
    (N', D) tokens: numpy's or torch's shape-mismatch error names N' and N (or N' + 1 and N + 1, with the
    class token)."""
    if case.func not in ("vit_forward", "vit_forward_cls") or case.expect_error:
        return False
    numbers = mismatched_sizes(message)
    image, P = case.args[1], case.args[2]
    N = (image.shape[0] // P) * (image.shape[1] // P)
    overlapping = _stride_tokens(case.args)
    return bool(numbers & (overlapping | {n + 1 for n in overlapping})) and bool(numbers & {N, N + 1})


mistake("flatten_cpp", "Your patches are flattened channel-first, (C, P, P): flatten each patch in (P, P, C) order, "
        "as the reshape to (H/P, P, W/P, P, C) followed by swapping axes 1 and 2 gives.", patchify=_flatten_cpp)
mistake("no_transpose", "You reshape the image straight to (N, P*P*C), which cuts strips of rows: reshape to "
        "(H/P, P, W/P, P, C) and swap axes 1 and 2 before flattening.", patchify=_no_transpose)
mistake("grid_transposed", "Your patch tokens run down the columns: order them row by row (left to right, then top "
        "to bottom), as a (H/P, W/P) grid read in row-major order.", patchify=_grid_transposed)
mistake("patch_order_cpp", "Your patches are flattened in (P, P, C) order but the kernel in its (C, P, P) order: "
        "permute the kernel to (D, P, P, C) before reshaping it to (D, P*P*C).",
        patch_kernel=lambda w: w.reshape(w.shape[0], -1))
mistake("no_patch_bias", "You leave out the patch embedding's bias: the tokens are x_p E + b.",
        patch_bias=lambda b: np.zeros_like(b))
mistake("stride_not_patch", "Your windows overlap (a stride smaller than the patch size): a ViT's patch embedding "
        "uses stride = patch_size, so that the patches do not overlap and N = HW / P^2.",
        variants=({"stride": lambda P: 1}, {"stride": lambda P: max(1, P // 2)}), recognise_error=_recognise_stride)


# ---- positions (chapter 3) -----------------------------------------------------------------------------------
@stage
def add_positions(tokens, pos, cls):
    """z_0 = [cls; tokens] + E_pos (tokens (..., N, D); pos (T, D); cls (D,) or None)."""
    pos = pos.astype(tokens.dtype)
    if cls is None:
        return tokens + pos
    return V.prepend_cls(tokens, cls.astype(tokens.dtype)) + pos


def _no_pos(tokens, pos, cls):
    return tokens if cls is None else V.prepend_cls(tokens, cls.astype(tokens.dtype))


def _pos_before_cls(rows: slice):
    def add(tokens, pos, cls):
        pos = pos.astype(tokens.dtype)
        if cls is None:
            return tokens + pos
        return V.prepend_cls(tokens + pos[rows], cls.astype(tokens.dtype))
    return add


mistake("no_pos_embed", "You never add the position embedding: add pos_embed to the tokens right after the patch "
        "embedding (after prepending the class token, if there is one).", add_positions=_no_pos)
mistake("pos_before_cls", "You add the positions before prepending the class token: concatenate [cls_token; "
        "tokens] first, then add the whole (N + 1, D) pos_embed.",
        variants=({"add_positions": _pos_before_cls(slice(1, None))},
                  {"add_positions": _pos_before_cls(slice(None, -1))}))


# ---- attention (chapter 4) -------------------------------------------------------------------------------------
@stage
def split_heads(x, heads):
    return V.split_heads(x, heads)


@stage
def merge_heads(o):
    return V.merge_heads(o)


@stage
def attention_scale(q, v, D, heads):
    """The factor of Q K^T: 1/sqrt(d), d the width of q and k."""
    return 1.0 / math.sqrt(q.shape[-1])


@stage
def mask(scores):
    return scores


@stage
def softmax(scores):
    return V.softmax(scores, axis=-1)


@stage
def out_proj(merged, p):
    return V.linear(merged, p["proj.weight"], p["proj.bias"])


def sdpa(S: Stages, q, k, v, D: int | None = None, heads: int = 1):
    """(output (..., Tq, dv), probabilities (..., Tq, Tk)) of softmax(Q K^T / sqrt(d)) V."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * S.attention_scale(q, v, D or q.shape[-1], heads)
    with np.errstate(over="ignore", invalid="ignore"):
        probs = S.softmax(S.mask(scores))
    return np.matmul(probs, v), probs


def mha(S: Stages, x, p, heads: int):
    """Multi-head self-attention: (output (..., T, D), probabilities (..., heads, T, T))."""
    p = cast(p, x)
    q, k, v = (S.split_heads(V.linear(x, p[f"{n}.weight"], p[f"{n}.bias"]), heads) for n in "qkv")
    out, probs = sdpa(S, q, k, v, x.shape[-1], heads)
    return S.out_proj(S.merge_heads(out), p), probs


def _split_plain(x, heads):
    *lead, T, D = x.shape
    return x.reshape(*lead, heads, T, D // heads)


def _merge_plain(o):
    *lead, H, T, d = o.shape
    return o.reshape(*lead, T, H * d)


def _split_interleaved(x, heads):
    *lead, T, D = x.shape
    return np.moveaxis(x.reshape(*lead, T, D // heads, heads), -1, -3)


def _merge_interleaved(o):
    *lead, H, T, d = o.shape
    return np.moveaxis(o, -3, -1).reshape(*lead, T, H * d)


def _naive_softmax(scores):
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _causal(scores):
    Tq, Tk = scores.shape[-2:]
    return np.where(np.tril(np.ones((Tq, Tk), dtype=bool)), scores, -np.inf)


mistake("no_scale", "Your attention scores miss the 1/sqrt(d) scale: divide Q K^T by the square root of the head "
        "width d = D / num_heads.", attention_scale=lambda q, v, D, heads: 1.0)
mistake("scale_without_sqrt", "You divide the scores by d instead of sqrt(d): the scale is 1/sqrt(d).",
        attention_scale=lambda q, v, D, heads: 1.0 / q.shape[-1])
mistake("scale_by_D", "You scale the scores by 1/sqrt(D): use the head width d = D / num_heads, not the model "
        "width.", attention_scale=lambda q, v, D, heads: 1.0 / math.sqrt(D))
mistake("scale_by_heads", "You scale the scores by 1/sqrt(num_heads): the scale is 1/sqrt(d), d = D / num_heads "
        "the width of one head.", attention_scale=lambda q, v, D, heads: 1.0 / math.sqrt(heads))
mistake("scale_by_dv", "You scale the scores by the width of v: the scale is 1/sqrt(d), d the width of q and k.",
        attention_scale=lambda q, v, D, heads: 1.0 / math.sqrt(v.shape[-1]))
mistake("softmax_wrong_axis", "Your softmax normalises over the queries: take it over the last axis (the keys), so "
        "that every row of the attention sums to 1.", softmax=lambda s: V.softmax(s, axis=-2))
mistake("softmax_overflow", "Your softmax overflows on large scores (exp(s) is inf beyond s = 88 in float32): "
        "subtract each row's maximum before exp; the softmax does not change.", softmax=_naive_softmax)
mistake("causal_mask", "Your attention is masked (a causal mask, copied from a language model): a ViT's tokens "
        "all see each other; no mask.", mask=_causal)
mistake("heads_wrong_axis", "You split the heads with a plain reshape to (heads, T, d): reshape to (T, heads, d) "
        "first and then swap the first two axes (and undo it the same way).",
        split_heads=_split_plain, merge_heads=_merge_plain)
mistake("heads_interleaved", "Your heads take interleaved features (a reshape to (T, d, heads)): head h takes the "
        "consecutive features h*d ... (h+1)*d - 1, a reshape to (T, heads, d).",
        split_heads=_split_interleaved, merge_heads=_merge_interleaved)
mistake("no_out_proj", "You leave out the output projection: the heads' outputs, side by side, go through "
        "proj.weight and proj.bias.", out_proj=lambda merged, p: merged)


# ---- LayerNorm, GELU, the block (chapter 5) ---------------------------------------------------------------------
@stage
def layer_norm(x, w, b):
    return V.layer_norm(x, w.astype(x.dtype), b.astype(x.dtype), 1e-6)


@stage
def gelu(x):
    return V.gelu(x)


def _ln(eps=1e-6, ddof=0, outside=False, axis=-1, affine=True):
    def ln(x, w, b):
        mean = x.mean(axis=axis, keepdims=True)
        var = x.var(axis=axis, keepdims=True, ddof=ddof)
        y = (x - mean) / ((np.sqrt(var) + eps) if outside else np.sqrt(var + eps))
        return y * w.astype(x.dtype) + b.astype(x.dtype) if affine else y
    return ln


mistake("ln_eps_1e-5", "Your LayerNorm uses eps = 1e-5 (PyTorch's default): this model uses eps = 1e-6 (e.g. "
        "F.layer_norm(x, (D,), w, b, eps=1e-6)).", layer_norm=_ln(eps=1e-5))
mistake("ln_eps_1e-12", "Your LayerNorm uses eps = 1e-12 (Hugging Face's ViTConfig default): this model uses "
        "eps = 1e-6.", layer_norm=_ln(eps=1e-12))
mistake("ln_unbiased_var", "Your LayerNorm divides the variance by D - 1 (np.var(ddof=1), torch.var's default): "
        "LayerNorm uses the biased variance, the mean of the squared deviations.", layer_norm=_ln(ddof=1))
mistake("ln_eps_outside_sqrt", "You add eps after the square root, sqrt(var) + eps: LayerNorm divides by "
        "sqrt(var + eps).", layer_norm=_ln(outside=True))
mistake("ln_over_tokens", "Your LayerNorm normalises over the tokens: normalise each token over its D features, "
        "the last axis.", layer_norm=_ln(axis=-2))
mistake("ln_no_affine", "Your LayerNorm leaves out its gain and bias: multiply the normalised x by weight and add "
        "bias.", layer_norm=_ln(affine=False))
mistake("tanh_gelu", "You use the tanh approximation of GELU: use the exact 0.5 x (1 + erf(x / sqrt(2))) (in "
        "torch, F.gelu(x) without approximate='tanh').",
        gelu=lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))))
mistake("sigmoid_gelu", "You use the sigmoid approximation of GELU, x * sigmoid(1.702 x): use the exact "
        "0.5 x (1 + erf(x / sqrt(2))).", gelu=lambda x: x / (1.0 + np.exp(-1.702 * x)))
mistake("relu_for_gelu", "You use ReLU where the block uses GELU: 0.5 x (1 + erf(x / sqrt(2))).",
        gelu=lambda x: np.maximum(x, 0))


@stage
def mlp(S: Stages, h, p):
    return V.linear(S.gelu(V.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"],
                    p["mlp.fc2.bias"])


@stage
def residual(x, h):
    return x + h


@stage
def mlp_residual(x, h):
    return x + h


@stage
def block(S: Stages, x, p, heads):
    """One pre-LN block: x + MSA(LN1 x), then + MLP(LN2 x)."""
    p = cast(p, x)
    x = S.residual(x, mha(S, S.layer_norm(x, p["norm1.weight"], p["norm1.bias"]), sub(p, "attn."), heads)[0])
    return S.mlp_residual(x, S.mlp(S, S.layer_norm(x, p["norm2.weight"], p["norm2.bias"]), p))


def _post_ln_block(S, x, p, heads):
    p = cast(p, x)
    x = S.layer_norm(x + mha(S, x, sub(p, "attn."), heads)[0], p["norm1.weight"], p["norm1.bias"])
    return S.layer_norm(x + S.mlp(S, x, p), p["norm2.weight"], p["norm2.bias"])


mistake("post_ln", "Your blocks normalise after the residual addition (post-LN): apply LayerNorm to the input of "
        "the attention and of the MLP, and add their outputs to the un-normalised stream (pre-LN).",
        block=_post_ln_block)
mistake("no_attn_residual", "Your block drops the residual around the attention: x' = x + MSA(LN1(x)), not "
        "MSA(LN1(x)).", residual=lambda x, h: h)
mistake("no_mlp_residual", "Your block drops the residual around the MLP: y = x' + MLP(LN2(x')), not MLP(LN2(x')).",
        mlp_residual=lambda x, h: h)


# ---- pooling and the model (chapters 6-7) ------------------------------------------------------------------------
@stage
def pool(z, mode, prefix):
    """(..., T, D) -> (..., D): token 0 for "cls", the mean of the patch tokens for "mean"."""
    return z[..., 0, :] if mode == "cls" else z[..., prefix:, :].mean(axis=-2)


@stage
def block_params(p, i):
    return sub(p, f"blocks.{i}.")


@stage
def model_tail(S: Stages, z, p, mode, prefix):
    """z_L -> logits: the final LayerNorm, the pooling, the head."""
    return V.head(S.pool(S.layer_norm(z, p["norm.weight"], p["norm.bias"]), mode, prefix), p)


def _pool_variant(kind):
    def pooled(z, mode, prefix):
        if kind == "features":
            return z.mean(axis=-1)
        if kind == "patch_features":
            return z[..., 0, :] if mode == "cls" else z[..., prefix:, :].mean(axis=-1)
        if kind == "all_tokens":
            return z.mean(axis=-2)
        if kind == "token0":
            return z[..., 0, :]
        return z[..., prefix:, :].mean(axis=-2) if kind == "mean" else z[..., 1:, :].mean(axis=-2)
    return pooled


mistake("mean_over_features", "You average over the feature axis: average over the tokens instead (axis 0 of an "
        "(N, D) array, axis -2 in general).",
        variants=({"pool": _pool_variant("features")}, {"pool": _pool_variant("patch_features")}))
mistake("cls_in_mean", "Your mean includes the class token: average only the patch tokens, x[..., 1:, :] (the rows "
        "after the num_prefix_tokens prefix).", pool=_pool_variant("all_tokens"))
mistake("cls_instead_of_mean", "With mode='mean' you return token 0 (the class token, or in a model without one the "
        "top-left patch): mean pooling averages the patch tokens, the rows after the num_prefix_tokens prefix, "
        "whatever the prefix.",
        pool=lambda z, mode, prefix: z[..., 0, :] if mode == "mean" else _pool_variant("mean")(z, mode, prefix))
mistake("mean_instead_of_cls", "You average the patch tokens where the class token was asked: return token 0 after "
        "the final LayerNorm.", pool=lambda z, mode, prefix: z[..., 1:, :].mean(axis=-2) if mode == "cls"
        else z[..., prefix:, :].mean(axis=-2))
mistake("no_final_ln", "You skip the final LayerNorm: normalise the tokens with norm.weight and norm.bias after the "
        "last block, before pooling.", model_tail=lambda S, z, p, mode, prefix: V.head(S.pool(z, mode, prefix), p))
mistake("ln_after_pool", "You apply the final LayerNorm after pooling: normalise every token first (norm.weight, "
        "norm.bias), then pool; the mean of normalised tokens is not the normalised mean.",
        model_tail=lambda S, z, p, mode, prefix: V.head(S.layer_norm(S.pool(z, mode, prefix), p["norm.weight"],
                                                                      p["norm.bias"]), p))
mistake("blocks_share_params", "Every one of your blocks uses the parameters of block 0: block i reads "
        "blocks.{i}.*.", block_params=lambda p, i: sub(p, "blocks.0."))


def vit(S: Stages, seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes, *, pool):
    """The logits (K,) of exercises 7 (pool="mean") and 8 (pool="cls"): the parameters drawn by
    ``init_params`` for the configuration (with the stride ``S.stride`` gives), in the image's dtype."""
    H, W, C = image.shape
    cfg = V.ViTConfig(image_size=(H, W), channels=C, patch_size=patch_size, d_model=d_model, num_heads=num_heads,
                      d_ff=d_ff, num_layers=num_layers, num_classes=num_classes, pool=pool,
                      stride=S.stride(patch_size))
    p = cast(V.init_params(cfg, seed), image)
    z = S.add_positions(patch_tokens(S, image, p["patch_embed.weight"], p["patch_embed.bias"]), p["pos_embed"],
                        p.get("cls_token"))
    for i in range(num_layers):
        z = S.block(S, z, S.block_params(p, i), num_heads)
    return S.model_tail(S, z, p, pool, cfg.num_prefix_tokens).reshape(-1)
