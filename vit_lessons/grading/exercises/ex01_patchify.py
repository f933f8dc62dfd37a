"""Exercise 1 (chapter 1): cut an image into patches, and put it back together."""

from __future__ import annotations

import math

import vit_lessons as V

from ..draws import Draw, channels, grid, image, indivisible_cases
from ..forbidden import Rule
from ..mistakes import mistake
from ..oracle import stage
from ..registry import Case, Exercise, Function, register_exercise


@stage
def unpatchify(patches, P, image_size):
    H, W = image_size
    return V.unpatchify(patches, P, (H // P, W // P), patches.shape[-1] // (P * P))


def _square_grid(patches, P, image_size):
    g = math.isqrt(patches.shape[-2])
    return V.unpatchify(patches, P, (g, g), patches.shape[-1] // (P * P))


mistake("unpatchify_square_grid", "Your unpatchify assumes a square grid of sqrt(N) x sqrt(N) patches: the grid is "
        "(H/P, W/P), from image_size.", unpatchify=_square_grid)
mistake("unpatchify_no_transpose", "Your unpatchify reshapes the patches straight to (H, W, C): reshape to "
        "(H/P, W/P, P, P, C) and swap axes 1 and 2 first, the inverse of patchify.",
        unpatchify=lambda patches, P, image_size: patches.reshape(*image_size, -1))

# (grid, channels, dtype): every kind, and every pair of kinds, is the only property of its own cases
KINDS = [("non-square", "one", "float64"), ("non-square", "several", "float64"), ("square", "several", "float64"),
         ("one patch", "several", "float32"), ("square", "several", "float32"), ("square", "one", "float64"),
         ("one patch", "several", "float32")]
#: what to check when exactly the tests with one property fail (exercises 1 and 2)
ADVICE = {("grid", "non-square"): "keep the grid's height and width apart: H/P rows of W/P patches (not "
                                  "int(sqrt(N)), not one size for both).",
          ("grid", "square"): "keep the grid's height and width apart: H/P rows of W/P patches.",
          ("channels", "several"): "keep the channels last and inside each patch: (P, P, C), C = image.shape[-1]."}


def cases(rng, repeat: int) -> list[Case]:
    """patchify and unpatchify on square and non-square grids, one patch, 1-3 channels, both dtypes; a
    ValueError for each side the patch size does not divide."""
    out = []
    for _ in range(repeat):
        for kind, channels_kind, dtype in KINDS:
            meta = {"grid": kind, "channels": channels_kind, "dtype": dtype}
            d = Draw(rng, meta)
            P, C = d.pick("patch", [2, 3, 4]), channels(d, channels_kind)
            gh, gw = grid(d, kind)
            x = image(rng, gh * P, gw * P, C, dtype)
            out.append(Case("patchify", (x, P), f"image {x.shape} {dtype}, patch {P}", meta=meta, drawn=d.values))
            out.append(Case("unpatchify", (V.patchify(x, P), P, (gh * P, gw * P)),
                            f"patches ({gh * gw}, {P * P * C}) {dtype}, patch {P}, image_size ({gh * P}, {gw * P})",
                            meta=meta, drawn=d.values))
        out += indivisible_cases(rng, "patchify", lambda x, P: ((x, P), f"image {x.shape}, patch {P}"))
    return out


@register_exercise
def patchify() -> Exercise:
    return Exercise(1, "patchify",
                    functions={"patchify": Function(("image", "patch_size"), lambda S, x, P: S.patchify(x, P),
                                                    ("flatten_cpp", "no_transpose", "grid_transposed")),
                               "unpatchify": Function(("patches", "patch_size", "image_size"),
                                                      lambda S, p, P, size: S.unpatchify(p, P, size),
                                                      ("unpatchify_square_grid", "unpatchify_no_transpose"))},
                    library=(), library_why="cutting patches is this exercise (numpy or torch reshapes only)",
                    cases=cases, advice=ADVICE,
                    rules=(Rule("torch", ("unfold", "fold", "Unfold", "Fold", "conv2d", "Conv2d", "convolution"),
                                "cutting patches is this exercise (a convolution with one-hot kernels cuts them "
                                "too); use reshapes"),))
