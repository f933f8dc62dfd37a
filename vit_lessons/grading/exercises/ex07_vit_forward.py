"""Exercise 7 (chapter 7): the whole Vision Transformer, mean-pooled, as one function of plain arguments."""

from __future__ import annotations

from ..draws import grid, heads_and_width, image, indivisible_cases, pick
from ..forbidden import Rule
from ..oracle import vit
from ..registry import Case, Exercise, Function, chapters, register_exercise
from .ex05_encoder_block import BLOCK

ARGS = ("seed", "image", "patch_size", "d_model", "num_heads", "d_ff", "num_layers", "num_classes")
MODEL_MISTAKES = ("no_pos_embed", "no_final_ln", "mean_over_features", "blocks_share_params",
                  *BLOCK, "patch_order_cpp", "flatten_cpp", "grid_transposed", "no_patch_bias", "stride_not_patch")
#: what exercises 7 and 8 may use of the library: chapters 1-4 but ``embed`` (z_0 of the whole model) and the
#: parameters; not chapter 5's LayerNorm and GELU (the learner's own, from exercise 5)
LIBRARY = (*(n for n in chapters(1, 2, 3, 4) if n != "embed"), "init_params")
WHY = "the whole model is this exercise; build it from your blocks (exercise 5) or the chapters 1-4 functions"
RULES = (Rule("torch", ("TransformerEncoder", "TransformerEncoderLayer", "MultiheadAttention",
                        "multi_head_attention_forward", "scaled_dot_product_attention"),
              "the encoder block is to be built from its parts"),
         Rule("torchvision", (), "the model is to be written, not imported"),
         Rule("timm", (), "the model is to be written, not imported"),
         Rule("transformers", (), "the model is to be written, not imported"))
# (grid, dtype, heads, layers, channels); "D = T": a model as wide as it has tokens, where a mean over the
# features has the shape of the right answer.  No property's cases are another's.
KINDS = [("square", "float32", "one", "one", 3), ("non-square", "float64", "several", "several", 3),
         ("non-square", "float32", "several", "one", 1), ("square", "float64", "several", "one", 2),
         ("D = T", "float32", "several", "several", 3)]


def _width(rng, kind: str, heads_kind: str, pool: str):
    """(grid (gh, gw), num_heads, D) for one kind of model."""
    if kind != "D = T":
        return grid(rng, kind), *heads_and_width(rng, heads_kind)
    D = pick(rng, [6, 8])  # d = D / 2 heads, never 2
    return ((1, D - 1) if pool == "cls" else (2, D // 2)), 2, D


def model_cases(rng, repeat: int, pool: str, func: str) -> list[Case]:
    """The model on square and non-square grids, 1-3 channels, both dtypes, one or several heads and layers,
    a model as wide as its token count; a ValueError for each side the patch size does not divide."""
    out = []
    for _ in range(repeat):
        for kind, dtype, heads_kind, layers_kind, C in KINDS:
            (gh, gw), heads, D = _width(rng, kind, heads_kind, pool)
            P, F = pick(rng, [2, 3, 4]), pick(rng, [D, 2 * D])
            L, K = (1 if layers_kind == "one" else pick(rng, [2, 3])), int(rng.integers(2, 7))
            x = image(rng, gh * P, gw * P, C, dtype)
            meta = {"grid": "square" if gh == gw else "non-square", "dtype": dtype, "heads": heads_kind,
                    "layers": layers_kind, "channels": "one" if C == 1 else "several"}
            out.append(Case(func, (int(rng.integers(1000)), x, P, D, heads, F, L, K),
                            f"image {x.shape} {dtype}, patch {P}, d_model {D}, {heads} head(s), d_ff {F}, {L} "
                            f"layer(s), {K} classes", meta=meta))
        out += indivisible_cases(rng, func, lambda x, P: ((int(rng.integers(1000)), x, P, 8, 2, 16, 1, 3),
                                                          f"image {x.shape}, patch {P}"))
    return out


@register_exercise
def vit_forward() -> Exercise:
    return Exercise(7, "vit_forward",
                    functions={"vit_forward": Function(ARGS, lambda S, *a: vit(S, *a, pool="mean"),
                                                       (*MODEL_MISTAKES, "ln_after_pool", "cls_instead_of_mean"))},
                    library=LIBRARY, library_why=WHY, rules=RULES,
                    cases=lambda rng, repeat: model_cases(rng, repeat, "mean", "vit_forward"))
