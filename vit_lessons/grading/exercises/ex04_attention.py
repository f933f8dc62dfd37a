"""Exercise 4 (chapter 4): scaled dot-product attention and multi-head self-attention."""

from __future__ import annotations

from ..draws import DTYPES, block_params, heads_and_width, pick, tokens_shape
from ..forbidden import Rule
from ..oracle import mha, sdpa
from ..registry import Case, Exercise, Function, chapters, register_exercise

SDPA_MISTAKES = ("no_scale", "scale_without_sqrt", "scale_by_dv", "softmax_wrong_axis", "softmax_overflow",
                 "causal_mask")
MHA_MISTAKES = (*(m for m in SDPA_MISTAKES if m != "scale_by_dv"), "scale_by_D", "scale_by_heads", "heads_wrong_axis",
                "heads_interleaved", "no_out_proj")
#: scores of order 100 and more: exp overflows in float32 without the max subtracted
LARGE = 15.0
# (leading axes, keys longer and wider than the queries, dtype, large scores)
SDPA_KINDS = [((), False, "float32", False), ((3,), True, "float64", False), ((2, 2), False, "float32", False),
              ((2,), True, "float32", True)]
# (batched, heads, dtype, large scores)
MHA_KINDS = [(False, "one", "float32", False), (False, "several", "float64", False),
             (True, "several", "float32", False), (True, "one", "float64", False),
             (False, "several", "float32", True)]


def _sdpa_cases(rng) -> list[Case]:
    out = []
    for lead, longer, dtype, large in SDPA_KINDS:
        Tq, d = int(rng.integers(2, 7)), pick(rng, [2, 3, 4, 5])
        Tk, dv = (Tq + int(rng.integers(1, 4)), d + int(rng.integers(1, 3))) if longer else (Tq, d)
        scale = LARGE if large else 1.0
        q, k = (scale * rng.standard_normal((*lead, T, d)) for T in (Tq, Tk))
        v = rng.standard_normal((*lead, Tk, dv))
        q, k, v = (a.astype(DTYPES[dtype]) for a in (q, k, v))
        meta = {"batch": "batched" if lead else "unbatched", "dtype": dtype, "scores": "large" if large else "normal",
                "keys": "more than queries" if longer else "as many as queries"}
        out.append(Case("scaled_dot_product_attention", (q, k, v), f"q {q.shape}, k {k.shape}, v {v.shape} {dtype}"
                        + (", large scores" if large else ""), meta=meta))
    return out


def _mha_cases(rng) -> list[Case]:
    out = []
    for batched, heads_kind, dtype, large in MHA_KINDS:
        heads, D = heads_and_width(rng, heads_kind)
        p = {k[len("attn."):]: v for k, v in block_params(rng, D, heads, D).items() if k.startswith("attn.")}
        shape = tokens_shape(batched, rng, int(rng.integers(2, 7)), D)
        x = ((20.0 if large else 1.0) * rng.standard_normal(shape)).astype(DTYPES[dtype])
        meta = {"batch": "batched" if batched else "unbatched", "heads": heads_kind, "dtype": dtype,
                "scores": "large" if large else "normal"}
        out.append(Case("multi_head_attention", (x, p, heads), f"x {shape} {dtype}, {heads} head(s)"
                        + (", large scores" if large else ""), meta=meta))
    return out


def cases(rng, repeat: int) -> list[Case]:
    """Attention with and without leading axes, keys longer and wider than the queries, large scores;
    multi-head attention batched or not, one or several heads, both dtypes."""
    return [c for _ in range(repeat) for c in (*_sdpa_cases(rng), *_mha_cases(rng))]


@register_exercise
def attention() -> Exercise:
    why = "attention is this exercise"
    return Exercise(4, "attention",
                    functions={"scaled_dot_product_attention": Function(("q", "k", "v"), sdpa, SDPA_MISTAKES),
                               "multi_head_attention": Function(("x", "params", "num_heads"), mha, MHA_MISTAKES)},
                    library=(*chapters(1, 2, 3), "softmax"), library_why=why, cases=cases,
                    rules=(Rule("torch", ("scaled_dot_product_attention", "MultiheadAttention",
                                          "multi_head_attention_forward", "TransformerEncoderLayer",
                                          "TransformerEncoder"), why),))
