"""Exercise 7 (chapter 7): the whole Vision Transformer, mean-pooled, as one function of plain arguments."""

from __future__ import annotations

from ..draws import SEEDS, Draw, channels, grid, heads_and_width, image, indivisible_cases, mlp_width
from ..forbidden import Rule
from ..oracle import vit
from ..registry import Case, Exercise, Function, chapters, register_exercise
from .ex01_patchify import ADVICE as ADVICE_PATCHES
from .ex04_attention import HEADS
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
# (grid, dtype, heads, layers, channels): every kind, and every pair of kinds, is the only property of its own
# cases; "D = T" is a non-square grid whose model is as wide as it has tokens (a mean over the features has
# the shape of the right answer)
KINDS = [("non-square", "float32", "one", "one", "several"), ("square", "float32", "one", "several", "several"),
         ("non-square", "float64", "several", "one", "several"), ("square", "float64", "one", "one", "one"),
         ("square", "float64", "one", "one", "several"), ("square", "float64", "several", "several", "one"),
         ("square", "float32", "several", "one", "several"), ("D = T", "float64", "several", "several", "several"),
         ("non-square", "float64", "one", "several", "one")]
ADVICE = {**ADVICE_PATCHES,
          ("channels", "several"): "an image has C = image.shape[-1] channels: the config's channels=C, the kernel "
                                   "(D, C, P, P), each patch flattened (P, P, C).",
          ("heads", "several"): HEADS, ("heads", "one"): "with one head, d = D: the scale is 1/sqrt(D).",
          ("layers", "several"): "each block i reads its own parameters blocks.{i}.*, and takes the previous block's "
                                 "output.",
          ("layers", "one"): "the blocks are blocks.0 ... blocks.{L-1}: with one layer, blocks.0 only."}


def _model(d: Draw, kind: str, heads_kind: str, pool: str):
    """(grid (gh, gw), num_heads, D) for one kind of model."""
    if kind != "D = T":
        return grid(d, kind), *heads_and_width(d, heads_kind)
    (gh, gw), heads, width = ((1, 5) if pool == "cls" else (2, 3)), 2, 3
    d.values.update(grid="1 x n" if gh == 1 else "m x n", heads=str(heads))
    return (gh, gw), heads, heads * width


def model_cases(rng, repeat: int, pool: str, func: str) -> list[Case]:
    """The model on square and non-square grids, 1-3 channels, both dtypes, one or several heads and layers,
    a model as wide as its token count; a ValueError for each side the patch size does not divide."""
    out = []
    for _ in range(repeat):
        for kind, dtype, heads_kind, layers_kind, channels_kind in KINDS:
            meta = {"grid": "square" if kind == "square" else "non-square", "dtype": dtype, "heads": heads_kind,
                    "layers": layers_kind, "channels": channels_kind}
            d = Draw(rng, meta)
            (gh, gw), heads, D = _model(d, kind, heads_kind, pool)
            P, F, C = d.pick("patch", [2, 3, 4]), mlp_width(d, D, ["D", "2D"]), channels(d, channels_kind)
            L = 1 if layers_kind == "one" else d.pick("layers", [2, 3])
            K = d.choose([2, 3, 5])
            x = image(rng, gh * P, gw * P, C, dtype)
            out.append(Case(func, (int(rng.integers(SEEDS)), x, P, D, heads, F, L, K),
                            f"image {x.shape} {dtype}, patch {P}, d_model {D}, {heads} head(s), d_ff {F}, {L} "
                            f"layer(s), {K} classes", meta=meta, drawn=d.values))
        out += indivisible_cases(rng, func, lambda x, P: ((int(rng.integers(SEEDS)), x, P, 8, 2, 16, 1, 3),
                                                          f"image {x.shape}, patch {P}"))
    return out


@register_exercise
def vit_forward() -> Exercise:
    return Exercise(7, "vit_forward",
                    functions={"vit_forward": Function(ARGS, lambda S, *a: vit(S, *a, pool="mean"),
                                                       (*MODEL_MISTAKES, "ln_after_pool", "cls_instead_of_mean"))},
                    library=LIBRARY, library_why=WHY, rules=RULES, advice=ADVICE,
                    cases=lambda rng, repeat: model_cases(rng, repeat, "mean", "vit_forward"))
