"""Exercise 4 (chapter 4): scaled dot-product attention and multi-head self-attention."""

from __future__ import annotations

from ..draws import BATCHES, DTYPES, TOKENS, Draw, block_params, heads_and_width, tokens_shape
from ..forbidden import Rule
from ..oracle import mha, sdpa
from ..registry import Case, Exercise, Function, chapters, register_exercise

SDPA_MISTAKES = ("no_scale", "scale_without_sqrt", "scale_by_dv", "softmax_wrong_axis", "softmax_overflow",
                 "causal_mask")
MHA_MISTAKES = (*(m for m in SDPA_MISTAKES if m != "scale_by_dv"), "scale_by_D", "scale_by_heads", "heads_wrong_axis",
                "heads_interleaved", "no_out_proj")
#: scores of order 100 and more: exp overflows in float32 without the max subtracted
LARGE = 15.0
# (batched, keys longer and wider than the queries, dtype, large scores) and (batched, heads, dtype, large
# scores): every kind, and every pair of kinds (the function's too), is the only property of its own cases
SDPA_KINDS = [(False, False, "float32", True), (True, True, "float32", False), (False, True, "float32", True),
              (True, True, "float64", True), (False, False, "float64", False), (True, False, "float32", False)]
MHA_KINDS = [(False, "several", "float64", True), (False, "one", "float64", False), (False, "one", "float32", True),
             (True, "several", "float64", False), (True, "one", "float32", False), (True, "several", "float32", True)]
HEADS = ("check how the D features are split into heads (head h takes features h*d ... (h+1)*d - 1) and merged "
         "back, and the 1/sqrt(d) scale with d = D / num_heads.")
ADVICE = {("heads", "several"): HEADS,
          ("heads", "one"): "with one head, d = D and the probabilities are (..., 1, T, T): keep the heads axis of "
                            "length 1.",
          ("scores", "large"): "exp overflows beyond about 88 in float32: subtract each row's maximum before exp "
                               "(the softmax does not change).",
          ("keys", "more than queries"): "Q K^T is (Tq, Tk), its softmax runs over the keys (the last axis), the "
                                         "output is (Tq, dv), and the scale is 1/sqrt(d), d the width of q and k."}


def _sdpa_cases(rng) -> list[Case]:
    out = []
    for batched, longer, dtype, large in SDPA_KINDS:
        d = Draw(rng, {"batch": "batched" if batched else "unbatched", "dtype": dtype,
                       "scores": "large" if large else "normal",
                       "keys": "more than queries" if longer else "as many as queries"})
        # every size of a case is another axis's than any other size (the batch, 3 heads, Tq, d, Tk, dv)
        lead = (d.pick("batch", BATCHES), 3)[:d.choose([1, 2])] if batched else ()
        Tq, width = d.choose([4, 6]), d.choose([5, 7])
        Tk, dv = (Tq + d.choose([2, 4]), width + d.choose([2, 4])) if longer else (Tq, width)
        scale = LARGE if large else 1.0
        q, k = (scale * rng.standard_normal((*lead, T, width)) for T in (Tq, Tk))
        v = rng.standard_normal((*lead, Tk, dv))
        q, k, v = (a.astype(DTYPES[dtype]) for a in (q, k, v))
        out.append(Case("scaled_dot_product_attention", (q, k, v), f"q {q.shape}, k {k.shape}, v {v.shape} {dtype}"
                        + (", large scores" if large else ""), meta=d.meta, drawn=d.values))
    return out


def _mha_cases(rng) -> list[Case]:
    out = []
    for batched, heads_kind, dtype, large in MHA_KINDS:
        d = Draw(rng, {"batch": "batched" if batched else "unbatched", "heads": heads_kind, "dtype": dtype,
                       "scores": "large" if large else "normal"})
        heads, D = heads_and_width(d, heads_kind)
        p = {k[len("attn."):]: v for k, v in block_params(rng, D, heads, D).items() if k.startswith("attn.")}
        shape = tokens_shape(d, batched, d.choose(TOKENS), D)
        x = ((20.0 if large else 1.0) * rng.standard_normal(shape)).astype(DTYPES[dtype])
        out.append(Case("multi_head_attention", (x, p, heads), f"x {shape} {dtype}, {heads} head(s)"
                        + (", large scores" if large else ""), meta=d.meta, drawn=d.values))
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
                    library=(*chapters(1, 2, 3), "softmax"), library_why=why, cases=cases, advice=ADVICE,
                    rules=(Rule("torch", ("scaled_dot_product_attention", "MultiheadAttention",
                                          "multi_head_attention_forward", "TransformerEncoderLayer",
                                          "TransformerEncoder"), why),))
