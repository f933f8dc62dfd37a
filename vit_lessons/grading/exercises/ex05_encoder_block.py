"""Exercise 5 (chapter 5): LayerNorm, the exact GELU and the pre-LN encoder block."""

from __future__ import annotations

from ..draws import DTYPES, TOKENS, Draw, block_params, heads_and_width, mlp_width, tokens_shape
from ..forbidden import Rule
from ..registry import Case, Exercise, Function, chapters, register_exercise
from .ex04_attention import HEADS

ATTENTION = ("no_scale", "scale_by_D", "scale_by_heads", "softmax_wrong_axis", "heads_wrong_axis", "heads_interleaved",
             "no_out_proj", "causal_mask")
LAYER_NORM = ("ln_eps_1e-5", "ln_eps_1e-12", "ln_unbiased_var", "ln_eps_outside_sqrt", "ln_over_tokens", "ln_no_affine")
GELU = ("tanh_gelu", "sigmoid_gelu", "relu_for_gelu")
BLOCK = ("post_ln", "no_attn_residual", "no_mlp_residual", *LAYER_NORM, *GELU, *ATTENTION)
# (batched, heads, dtype, input scale): a small scale (variance 1e-6) is where LayerNorm's eps shows; every
# kind, and every pair of kinds, is the only property of its own cases
KINDS = [(False, "several", "float32", "normal"), (False, "one", "float32", "normal"),
         (True, "several", "float64", "small"), (True, "several", "float64", "normal"),
         (True, "one", "float32", "normal"), (True, "several", "float32", "small")]
ADVICE = {("heads", "several"): HEADS,
          ("heads", "one"): "with one head, d = D: the scale is 1/sqrt(D).",
          ("scale", "small"): "that is where LayerNorm's eps shows: (x - mean) / sqrt(var + eps), eps = 1e-6, the "
                              "biased variance."}


def cases(rng, repeat: int) -> list[Case]:
    """The block batched or not, one or several heads, both dtypes, d_ff below or above D, and an input of
    small variance."""
    out = []
    for _ in range(repeat):
        for batched, heads_kind, dtype, scale in KINDS:
            meta = {"batch": "batched" if batched else "unbatched", "heads": heads_kind, "dtype": dtype, "scale": scale}
            d = Draw(rng, meta)
            heads, D = heads_and_width(d, heads_kind)
            F = mlp_width(d, D, ["D/2", "2D", "4D"])
            shape = tokens_shape(d, batched, d.choose(TOKENS), D)
            x = ((1e-3 if scale == "small" else 1.0) * rng.standard_normal(shape)).astype(DTYPES[dtype])
            out.append(Case("encoder_block", (x, block_params(rng, D, heads, F), heads),
                            f"x {shape} {dtype}, {heads} head(s), d_ff {F}" + (", small variance" if scale == "small"
                                                                                else ""), meta=meta, drawn=d.values))
    return out


@register_exercise
def encoder_block() -> Exercise:
    why = "LayerNorm, GELU and the block are this exercise"
    return Exercise(5, "encoder_block",
                    functions={"encoder_block": Function(("x", "params", "num_heads"),
                                                         lambda S, x, p, heads: S.block(S, x, p, heads), BLOCK)},
                    library=chapters(1, 2, 3, 4), library_why=why, cases=cases, advice=ADVICE,
                    rules=(Rule("torch", ("layer_norm", "LayerNorm", "gelu", "GELU", "TransformerEncoderLayer",
                                          "TransformerEncoder"), why),))
