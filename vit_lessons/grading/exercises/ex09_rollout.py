"""Exercise 9 (chapter 9): attention rollout (Abnar & Zuidema, 2020)."""

from __future__ import annotations

import numpy as np

import vit_lessons as V

from ..draws import DTYPES, SEEDS, Draw, config, grid, heads_and_width
from ..mistakes import mistake
from ..oracle import stage
from ..registry import Case, Exercise, Function, chapters, register_exercise


@stage
def fuse_heads(layer):
    """(heads, T, T) -> (T, T): the mean of the heads."""
    return layer.mean(axis=0)


@stage
def with_residual(A):
    """0.5 A + 0.5 I, every row re-normalised to sum 1."""
    A = 0.5 * A + 0.5 * np.eye(A.shape[-1], dtype=A.dtype)
    return A / A.sum(axis=-1, keepdims=True)


@stage
def compose(A, R):
    """The later layer on the left."""
    return A @ R


@stage
def read_out(R):
    """The class token's row over the patch tokens."""
    return R[0, 1:]


def class_token_rollout(S, attentions):
    R = np.eye(attentions.shape[-1], dtype=attentions.dtype)
    for layer in attentions:
        R = S.compose(S.with_residual(S.fuse_heads(layer)), R)
    return S.read_out(R)


mistake("rollout_order", "You multiply the layers in the wrong order: the later layer goes on the left, "
        "R = A_L ... A_2 A_1.", compose=lambda A, R: R @ A)
mistake("rollout_no_identity", "You forgot the residual connection: use 0.5 A + 0.5 I before multiplying the "
        "layers.", with_residual=lambda A: A)
mistake("rollout_no_renorm", "You add the identity without re-normalising: divide every row of A + I by its sum "
        "(equivalently use 0.5 A + 0.5 I).", with_residual=lambda A: A + np.eye(A.shape[-1], dtype=A.dtype))
mistake("rollout_max_heads", "You fuse the heads with their maximum: this rollout averages the heads.",
        fuse_heads=lambda layer: layer.max(axis=0))
mistake("rollout_column", "You read the class token's column: read its row, R[0, 1:] (what the class token takes "
        "from each patch).", read_out=lambda R: R[1:, 0])
mistake("rollout_with_cls", "Your result keeps the class token's own entry: return R[0, 1:], the N patch tokens "
        "only.", read_out=lambda R: R[0])

# (layers, heads, dtype, grid): every kind, and every pair of kinds, is the only property of its own cases
KINDS = [("one", "several", "float32", "square"), ("one", "one", "float32", "square"),
         ("several", "several", "float64", "non-square"), ("several", "several", "float64", "square"),
         ("several", "one", "float32", "square"), ("several", "several", "float32", "non-square")]
GRID = "the grid only sets the number of tokens T = gh * gw + 1: return R[0, 1:], the class token's row over the "
ADVICE = {("heads", "several"): "average the heads of each layer (axis 1 of the (L, heads, T, T) attentions) before "
                                "adding the identity and multiplying: the heads are fused by their mean, layer by "
                                "layer.",
          ("heads", "one"): "with one head the mean over the heads is that head: keep the heads axis until you "
                            "average it.",
          ("layers", "several"): "multiply the layers with the later layer on the left, R = A_hat_{L-1} ... A_hat_0, "
                                 "starting from the identity, each A_hat from its own layer.",
          ("layers", "one"): "with one layer, R is that layer's A_hat.",
          ("grid", "non-square"): GRID + "T - 1 patch tokens.", ("grid", "square"): GRID + "T - 1 patch tokens."}


def cases(rng, repeat: int) -> list[Case]:
    """The attention of class-token models with 1-4 layers, one or several heads, square and non-square
    grids, float32 or float64."""
    out = []
    for _ in range(repeat):
        for layers_kind, heads_kind, dtype, grid_kind in KINDS:
            d = Draw(rng, {"layers": layers_kind, "heads": heads_kind, "dtype": dtype, "grid": grid_kind})
            (gh, gw), P = grid(d, grid_kind), d.pick("patch", [2, 3])
            heads, D = heads_and_width(d, heads_kind)
            L = 1 if layers_kind == "one" else d.pick("layers", [2, 3, 4])
            cfg = config(gh * P, gw * P, 3, P, D, heads, 2 * D, L, 3)
            x = rng.random((gh * P, gw * P, 3)).astype(DTYPES[dtype])
            _, att = V.forward(V.init_params(cfg, int(rng.integers(SEEDS))), x, cfg, return_attention=True)
            out.append(Case("rollout", (att,), f"attentions {att.shape} {dtype} ({gh} x {gw} grid)",
                            meta=d.meta, drawn=d.values))
    return out


@register_exercise
def rollout() -> Exercise:
    return Exercise(9, "rollout", functions={"rollout": Function(("attentions",), class_token_rollout,
                                                                 ("rollout_order", "rollout_no_identity",
                                                                  "rollout_no_renorm", "rollout_max_heads",
                                                                  "rollout_column", "rollout_with_cls"))},
                    library=chapters(1, 2, 3, 4, 5, 6, 7), library_why="attention rollout is this exercise",
                    cases=cases, advice=ADVICE)
