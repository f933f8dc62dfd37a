"""The hidden cases: configurations the learner never sees.  Not part of the learner's bundle.

Every exercise draws from a fixed generator, so a submission gets the same cases on every run.  The
expected outputs are computed by the grader from ``solutions/``; only the shapes are ever shown.
"""

from __future__ import annotations

import numpy as np

import vit_lessons as V

from ..spec import Case, attention_params, block_params, config, model_case

# (H, W, C, P, D, heads, F, L, K, dtype): square and not, 1-3 channels, patch sizes 2-8, 1-4 heads, 1-3
# layers, 2-10 classes; float64 cases detect what float32 rounding hides (LayerNorm eps); N == D (and
# N + 1 == D for the class-token model) lets a mean over the features produce logits of the right shape.
MODELS = [
    (4, 4, 3, 2, 8, 2, 16, 2, 4, np.float32), (8, 12, 3, 4, 16, 4, 32, 2, 5, np.float32),
    (6, 6, 1, 3, 12, 3, 24, 1, 3, np.float32), (8, 8, 2, 2, 16, 2, 32, 1, 7, np.float32),
    (12, 8, 3, 4, 8, 1, 16, 3, 2, np.float32), (16, 16, 3, 8, 12, 2, 24, 2, 10, np.float32),
    (10, 5, 2, 5, 10, 5, 20, 2, 3, np.float32), (4, 6, 3, 2, 8, 2, 16, 2, 4, np.float64),
    (8, 8, 3, 2, 16, 4, 16, 1, 4, np.float64), (6, 10, 3, 2, 16, 4, 24, 2, 5, np.float64),
    (9, 6, 1, 3, 6, 3, 12, 2, 3, np.float64), (8, 4, 2, 4, 12, 4, 8, 3, 6, np.float32),
]


def cases(name: str) -> list[Case]:
    """The hidden cases of exercise ``name``."""
    rng = np.random.default_rng(20240 + len(name))
    if name in ("vit_forward", "vit_forward_cls"):
        return [model_case(name, 100 + i, *m, rng) for i, m in enumerate(MODELS)]
    if name == "patchify":
        out = []
        for H, W, C, P in [(4, 4, 3, 2), (6, 9, 1, 3), (8, 4, 2, 4), (10, 15, 3, 5), (12, 8, 3, 2), (7, 7, 2, 7)]:
            image = rng.random((H, W, C)).astype(np.float32)
            out.append(Case("patchify", (image, P), f"image ({H}, {W}, {C}), patch {P}"))
            out.append(Case("unpatchify", (V.patchify(image, P), P, (H, W)),
                            f"patches ({H * W // P // P}, {P * P * C}), image_size ({H}, {W})"))
        for H, W, P in [(5, 4, 2), (6, 8, 4)]:
            image = rng.random((H, W, 3)).astype(np.float32)
            out.append(Case("patchify", (image, P), f"image ({H}, {W}, 3), patch {P}", expect_error="ValueError"))
        return out
    if name == "patch_embedding":
        out = []
        for H, W, C, P, D, dtype in [(4, 4, 3, 2, 8, np.float32), (6, 9, 1, 3, 5, np.float32),
                                     (8, 12, 2, 4, 16, np.float64), (10, 5, 3, 5, 7, np.float32),
                                     (8, 8, 3, 2, 4, np.float64), (16, 8, 3, 8, 12, np.float32)]:
            p = V.init_params(config(H, W, C, P, D, 1, 4, 1, 2), int(rng.integers(1000)))
            out.append(Case("patch_embedding", (rng.random((H, W, C)).astype(dtype), p["patch_embed.weight"],
                                                p["patch_embed.bias"]),
                            f"image ({H}, {W}, {C}) {np.dtype(dtype).name}, weight ({D}, {C}, {P}, {P})"))
        return out
    if name == "positional_embedding":
        out = [Case("sincos_2d", (g, d), f"grid {g}, dim {d}") for g, d in [((2, 3), 8), ((4, 4), 16), ((3, 1), 12),
                                                                             ((5, 7), 32)]]
        for B, N, D, cls, dtype in [(None, 4, 8, True, np.float32), (None, 6, 12, False, np.float32),
                                    (3, 4, 8, True, np.float64), (2, 9, 16, False, np.float32),
                                    (None, 1, 4, True, np.float64)]:
            shape = (N, D) if B is None else (B, N, D)
            T = N + cls
            args = (rng.standard_normal(shape).astype(dtype), rng.standard_normal((T, D)).astype(np.float32),
                    rng.standard_normal(D).astype(np.float32) if cls else None)
            out.append(Case("add_positions", args, f"tokens {shape} {np.dtype(dtype).name}, pos ({T}, {D}), "
                                                   f"{'cls' if cls else 'no cls'}"))
        return out
    if name == "attention":
        out = []
        for shape, dtype in [((5, 4), np.float32), ((3, 6, 8), np.float64), ((2, 2, 7, 3), np.float32)]:
            q, k, v = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
            out.append(Case("scaled_dot_product_attention", (q, k, v), f"q, k, v {shape} {np.dtype(dtype).name}"))
        for B, T, D, heads, dtype in [(None, 5, 8, 2, np.float32), (None, 7, 12, 3, np.float64),
                                      (2, 4, 16, 4, np.float32), (None, 9, 6, 1, np.float32),
                                      (3, 6, 8, 4, np.float64)]:
            p = attention_params(V.init_params(config(D=D, heads=heads, L=1), int(rng.integers(1000))))
            shape = (T, D) if B is None else (B, T, D)
            out.append(Case("multi_head_attention", (rng.standard_normal(shape).astype(dtype), p, heads),
                            f"x {shape} {np.dtype(dtype).name}, {heads} heads"))
        return out
    if name == "encoder_block":
        out = []
        for B, T, D, heads, F, dtype in [(None, 5, 8, 2, 16, np.float32), (None, 7, 12, 3, 24, np.float64),
                                         (2, 4, 16, 4, 8, np.float32), (None, 9, 6, 1, 12, np.float64),
                                         (3, 6, 8, 4, 32, np.float64), (None, 3, 4, 2, 4, np.float32)]:
            p = block_params(V.init_params(config(D=D, heads=heads, F=F, L=1), int(rng.integers(1000))))
            shape = (T, D) if B is None else (B, T, D)
            out.append(Case("encoder_block", (rng.standard_normal(shape).astype(dtype), p, heads),
                            f"x {shape} {np.dtype(dtype).name}, {heads} heads, d_ff {F}"))
        return out
    if name == "pooling":
        out = []
        for shape, mode, prefix in [((5, 8), "cls", 1), ((5, 8), "mean", 1), ((6, 4), "mean", 0), ((2, 7, 3), "cls", 1),
                                    ((3, 9, 6), "mean", 1), ((2, 4, 5), "mean", 0)]:
            out.append(Case("pool", (rng.standard_normal(shape).astype(np.float32), mode, prefix),
                            f"x {shape}, {mode}, {prefix} prefix token(s)"))
        return out
    if name == "rollout":
        out = []
        for H, W, P, heads, L in [(4, 4, 2, 2, 2), (8, 12, 4, 4, 3), (6, 6, 3, 1, 1), (8, 8, 2, 2, 4)]:
            cfg = config(H, W, 3, P, 8, heads, 16, L, 3)
            att = V.forward(V.init_params(cfg, int(rng.integers(1000))), rng.random((H, W, 3)), cfg,
                            return_attention=True)[1]
            out.append(Case("rollout", (att,), f"attentions {tuple(att.shape)} {att.dtype}"))
        return out
    if name == "block_backward":
        out = []
        for T, D, heads, F in [(5, 8, 2, 16), (7, 12, 3, 24), (4, 6, 1, 12), (6, 16, 4, 8)]:
            p = block_params(V.init_params(config(D=D, heads=heads, F=F, L=1), int(rng.integers(1000))), 0, np.float64)
            out.append(Case("block_backward", (rng.standard_normal((T, D)), p, heads, rng.standard_normal((T, D))),
                            f"x ({T}, {D}) float64, {heads} heads, d_ff {F}"))
        return out
    raise ValueError(f"exercise {name!r}: no hidden cases")
