"""Exercise 2 (chapter 2): the patch embedding, a strided convolution written as one matrix product."""

from __future__ import annotations

import vit_lessons as V

from ..draws import SEEDS, Draw, channels, config, grid, image, indivisible_cases
from ..forbidden import Rule
from ..oracle import patch_tokens
from ..registry import Case, Exercise, Function, chapters, register_exercise
from .ex01_patchify import ADVICE, KINDS

MISTAKES = ("patch_order_cpp", "flatten_cpp", "no_transpose", "grid_transposed", "no_patch_bias", "stride_not_patch")


def _kernel(rng, C: int, P: int, D: int) -> tuple:
    """(weight (D, C, P, P), bias (D,)) drawn by init_params (D is never P*P*C: no transpose fits)."""
    params = V.init_params(config(H=P, W=P, C=C, P=P, D=D, heads=1, F=4), int(rng.integers(SEEDS)))
    return params["patch_embed.weight"], params["patch_embed.bias"]


def cases(rng, repeat: int) -> list[Case]:
    """Square and non-square grids, one patch, 1-3 channels, both dtypes (float32 kernels); a ValueError
    for each side the patch size does not divide."""
    out = []
    for _ in range(repeat):
        for kind, channels_kind, dtype in KINDS:
            d = Draw(rng, {"grid": kind, "channels": channels_kind, "dtype": dtype})
            P, C = d.pick("patch", [2, 3, 4]), channels(d, channels_kind)
            gh, gw = grid(d, kind)
            weight, bias = _kernel(rng, C, P, d.choose([5, 7, 10]))
            x = image(rng, gh * P, gw * P, C, dtype)
            out.append(Case("patch_embedding", (x, weight, bias), f"image {x.shape} {dtype}, weight {weight.shape}",
                            meta=d.meta, drawn=d.values))
        out += indivisible_cases(rng, "patch_embedding", lambda x, P: (
            (x, *_kernel(rng, 3, P, 5)), f"image {x.shape}, weight (D, 3, {P}, {P})"))
    return out


@register_exercise
def patch_embedding() -> Exercise:
    why = "the convolution written as one matrix product is this exercise"
    return Exercise(2, "patch_embedding",
                    functions={"patch_embedding": Function(("image", "weight", "bias"), patch_tokens, MISTAKES)},
                    library=chapters(1), library_why=why, cases=cases, advice=ADVICE,
                    rules=(Rule("torch", ("conv2d", "Conv2d", "convolution", "unfold", "Unfold"), why),
                           Rule("scipy", ("signal", "ndimage"), why)))
