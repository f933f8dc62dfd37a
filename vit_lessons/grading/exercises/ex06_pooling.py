"""Exercise 6 (chapter 6): pooling the final tokens into one vector per image."""

from __future__ import annotations

from ..draws import DTYPES, pick, tokens_shape
from ..registry import Case, Exercise, Function, chapters, register_exercise

# (batched, mode, number of prefix tokens, dtype, num_prefix_tokens passed)
KINDS = [(False, "cls", 1, "float32", True), (False, "mean", 1, "float64", True), (False, "mean", 0, "float32", True),
         (True, "cls", 1, "float64", True), (True, "mean", 1, "float32", True), (True, "mean", 0, "float64", True),
         (False, "mean", 0, "float32", False)]


def cases(rng, repeat: int) -> list[Case]:
    """Both modes, with and without a class token, batched or not, both dtypes, and once with
    num_prefix_tokens left to its default."""
    out = []
    for _ in range(repeat):
        for batched, mode, prefix, dtype, passed in KINDS:
            shape = tokens_shape(batched, rng, int(rng.integers(3, 8)), pick(rng, [3, 4, 6, 8]))
            x = rng.standard_normal(shape).astype(DTYPES[dtype])
            meta = {"batch": "batched" if batched else "unbatched", "mode": mode, "dtype": dtype,
                    "prefix": "one" if prefix else "none", "call": "prefix given" if passed else "prefix left out"}
            args, label = ((x, mode, prefix), f"x {shape} {dtype}, {mode!r}, num_prefix_tokens {prefix}") if passed \
                else ((x, mode), f"x {shape} {dtype}, {mode!r}, num_prefix_tokens not given")
            out.append(Case("pool", args, label, meta=meta))
    return out


@register_exercise
def pooling() -> Exercise:
    return Exercise(6, "pooling",
                    functions={"pool": Function(("x", "mode", "num_prefix_tokens"),
                                                lambda S, x, mode, prefix=0: S.pool(x, mode, prefix),
                                                ("mean_over_features", "cls_in_mean", "cls_instead_of_mean",
                                                 "mean_instead_of_cls"))},
                    library=chapters(1, 2, 3, 4, 5), library_why="pooling is this exercise", cases=cases)
