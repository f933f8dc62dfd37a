"""Exercise 10 (bonus, chapter 10): the backward pass of one pre-LN encoder block, by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vit_lessons.backward import encoder_block_backward

from ..draws import TOKENS, Draw, block_params, heads_and_width, mlp_width
from ..forbidden import Rule
from ..registry import Case, Exercise, Function, chapters, register_exercise


def block_gradients(S, x, params, num_heads, dy):
    """(dx, grads) of sum(dy * block(x)), from the library's backward pass."""
    prefixed = {f"blocks.0.{k}": v for k, v in params.items()}
    dx, grads = encoder_block_backward(x, prefixed, 0, SimpleNamespace(num_heads=num_heads, ln_eps=1e-6), dy)
    return dx, {k: grads[f"blocks.0.{k}"] for k in params}


KINDS = ["one", "several", "several"]
ADVICE = {("heads", "several"): "the gradient through the heads undoes their split and merge: head h holds the "
                                "features h*d ... (h+1)*d - 1, d = D / num_heads, and its scores carry the 1/sqrt(d) "
                                "scale.",
          ("heads", "one"): "with one head, d = D: the scores carry the scale 1/sqrt(D)."}


def cases(rng, repeat: int) -> list[Case]:
    """One block, float64, one or several heads, d_ff below or above D."""
    out = []
    for _ in range(repeat):
        for heads_kind in KINDS:
            d = Draw(rng, {"heads": heads_kind})
            heads, D = heads_and_width(d, heads_kind)
            T, F = d.choose(TOKENS), mlp_width(d, D, ["D/2", "2D"])
            x, dy = rng.standard_normal((T, D)), rng.standard_normal((T, D))
            out.append(Case("block_backward", (x, block_params(rng, D, heads, F, np.float64), heads, dy),
                            f"x ({T}, {D}) float64, {heads} head(s), d_ff {F}, dy ({T}, {D})",
                            meta=d.meta, drawn=d.values))
    return out


@register_exercise
def block_backward() -> Exercise:
    why = "the gradients are to be computed by hand"
    # torch is not there at all (its autograd would compute the answer): not in this file, not in a file of
    # the learner's that it imports (an exercise 5 written with torch), not loaded by the grader
    no_torch = ("exercise 10 runs without torch (its autograd would compute the answer), in its file and in the "
                "files of yours it imports: write them with numpy and scipy (your ex05 too), or import layer_norm "
                "and gelu from vit_lessons, which exercise 10 allows")
    return Exercise(10, "block_backward",
                    functions={"block_backward": Function(("x", "params", "num_heads", "dy"), block_gradients)},
                    library=chapters(1, 2, 3, 4, 5), library_why=why, cases=cases, bonus=True, advice=ADVICE,
                    rules=(Rule("torch", (), no_torch), Rule("functorch", (), no_torch), Rule("jax", (), why)))
