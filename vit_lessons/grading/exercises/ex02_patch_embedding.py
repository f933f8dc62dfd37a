"""Exercise 2 (chapter 2): the patch embedding, a strided convolution written as one matrix product."""

from __future__ import annotations

import vit_lessons as V

from ..draws import config, grid, image, indivisible_cases, pick
from ..forbidden import Rule
from ..oracle import patch_tokens
from ..registry import Case, Exercise, Function, chapters, register_exercise

KINDS = [("square", 3, "float32"), ("non-square", 1, "float64"), ("non-square", 2, "float32"),
         ("one patch", 3, "float64")]
MISTAKES = ("patch_order_cpp", "flatten_cpp", "no_transpose", "grid_transposed", "no_patch_bias", "stride_not_patch")


def _kernel(rng, C: int, P: int) -> tuple:
    """(weight (D, C, P, P), bias (D,)) drawn by init_params, D != P*P*C (so that no transpose fits)."""
    D = pick(rng, [d for d in range(3, 13) if d != P * P * C])
    params = V.init_params(config(H=P, W=P, C=C, P=P, D=D, heads=1, F=4), int(rng.integers(1000)))
    return params["patch_embed.weight"], params["patch_embed.bias"]


def cases(rng, repeat: int) -> list[Case]:
    """Square and non-square grids, one patch, 1-3 channels, both dtypes (float32 kernels); a ValueError
    for each side the patch size does not divide."""
    out = []
    for _ in range(repeat):
        for kind, C, dtype in KINDS:
            P = pick(rng, [2, 3, 4])
            gh, gw = grid(rng, kind)
            weight, bias = _kernel(rng, C, P)
            x = image(rng, gh * P, gw * P, C, dtype)
            out.append(Case("patch_embedding", (x, weight, bias), f"image {x.shape} {dtype}, weight {weight.shape}",
                            meta={"grid": kind, "channels": "one" if C == 1 else "several", "dtype": dtype}))
        out += indivisible_cases(rng, "patch_embedding", lambda x, P: (
            (x, *_kernel(rng, 3, P)), f"image {x.shape}, weight (D, 3, {P}, {P})"))
    return out


@register_exercise
def patch_embedding() -> Exercise:
    why = "the convolution written as one matrix product is this exercise"
    return Exercise(2, "patch_embedding",
                    functions={"patch_embedding": Function(("image", "weight", "bias"), patch_tokens, MISTAKES)},
                    library=chapters(1), library_why=why, cases=cases,
                    rules=(Rule("torch", ("conv2d", "Conv2d", "convolution", "unfold", "Unfold"), why),
                           Rule("scipy", ("signal", "ndimage"), why)))
