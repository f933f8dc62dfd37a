"""Exercise 6 (chapter 6): pooling the final tokens into one vector per image."""

from __future__ import annotations

from ..draws import DTYPES, Draw, tokens_shape
from ..registry import Case, Exercise, Function, chapters, register_exercise

# (batched, mode, number of prefix tokens, dtype, num_prefix_tokens passed): every kind, and every pair of
# kinds, is the only property of its own cases
KINDS = [(True, "mean", 1, "float32", True), (False, "mean", 1, "float64", True), (True, "mean", 0, "float32", True),
         (False, "mean", 0, "float64", True), (True, "mean", 0, "float32", False), (True, "cls", 1, "float64", True),
         (False, "cls", 1, "float64", True), (True, "mean", 0, "float64", False)]
ADVICE = {("mode", "mean"): "'mean' averages the patch tokens: the rows after the first num_prefix_tokens, over the "
                            "token axis (-2), divided by their number.",
          ("mode", "cls"): "'cls' returns token 0 of every image: x[..., 0, :].",
          ("prefix", "one"): "the first num_prefix_tokens rows are the class token: the mean runs over the other "
                             "T - num_prefix_tokens rows and divides by their number; 'cls' reads token 0.",
          ("prefix", "none"): "with num_prefix_tokens = 0 every row is a patch token: the mean runs over all T rows.",
          ("call", "prefix left out"): "the default of num_prefix_tokens is 0: pool(x, mode) must work."}


def cases(rng, repeat: int) -> list[Case]:
    """Both modes, with and without a class token, batched or not, both dtypes, and with num_prefix_tokens
    left to its default."""
    out = []
    for _ in range(repeat):
        for batched, mode, prefix, dtype, passed in KINDS:
            meta = {"batch": "batched" if batched else "unbatched", "mode": mode, "dtype": dtype,
                    "prefix": "one" if prefix else "none", "call": "prefix given" if passed else "prefix left out"}
            d = Draw(rng, meta)
            shape = tokens_shape(d, batched, d.choose([3, 5, 7]), d.choose([4, 6, 8]))
            x = rng.standard_normal(shape).astype(DTYPES[dtype])
            args, label = ((x, mode, prefix), f"x {shape} {dtype}, {mode!r}, num_prefix_tokens {prefix}") if passed \
                else ((x, mode), f"x {shape} {dtype}, {mode!r}, num_prefix_tokens not given")
            out.append(Case("pool", args, label, meta=meta, drawn=d.values))
    return out


@register_exercise
def pooling() -> Exercise:
    return Exercise(6, "pooling",
                    functions={"pool": Function(("x", "mode", "num_prefix_tokens"),
                                                lambda S, x, mode, prefix=0: S.pool(x, mode, prefix),
                                                ("mean_over_features", "cls_in_mean", "cls_instead_of_mean",
                                                 "mean_instead_of_cls"))},
                    library=chapters(1, 2, 3, 4, 5), library_why="pooling is this exercise", cases=cases,
                    advice=ADVICE)
