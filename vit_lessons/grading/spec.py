"""The exercises: files, functions, points, what each may not call, and the public (worked-example) cases.

The hidden cases live in :mod:`vit_lessons.grading.hidden`, which the learner's bundle does not contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vit_lessons as V

from .forbidden import Rule

POINTS = 10.0
#: |got - expected| <= atol + rtol * |expected|, per dtype of the expected output
TOLERANCES = {"float32": (1e-4, 1e-4), "float64": (1e-8, 1e-8)}


@dataclass(frozen=True)
class Exercise:
    number: int
    name: str
    functions: dict[str, tuple[str, ...]]  # function -> its argument names
    rules: tuple[Rule, ...]  # besides GRADER_RULE, which holds for every exercise
    points: float = POINTS
    bonus: bool = False
    preload: tuple[str, ...] = ("numpy", "vit_lessons")

    @property
    def file(self) -> str:
        return f"ex{self.number:02d}_{self.name}.py"

    @property
    def title(self) -> str:
        return f"{self.number:02d} {self.name}" + (" (bonus)" if self.bonus else "")


    @property
    def all_rules(self) -> tuple[Rule, ...]:
        return (*self.rules, GRADER_RULE)


@dataclass
class Case:
    """One call of one function: ``label`` describes the inputs by their shapes only."""

    func: str
    args: tuple
    label: str
    expect_error: str | None = None  # e.g. "ValueError": the function must raise it
    meta: dict = field(default_factory=dict)


#: no exercise may import the grader: its reference computation would be the answer
GRADER_RULE = Rule("vit_lessons", ("grading", "grade", "release"), "the grader is not part of any exercise")


def _lib(names: str, why: str) -> Rule:
    return Rule("vit_lessons", tuple(names.split()), why)


_MODEL_WHY = "the whole model is this exercise; build it from your blocks (exercise 5) or the chapters 1-4 functions"
_TORCH_BLOCKS = Rule("torch", ("TransformerEncoder", "TransformerEncoderLayer", "MultiheadAttention",
                               "multi_head_attention_forward", "scaled_dot_product_attention"),
                     "the encoder block is to be built from its parts")
_MODEL_RULES = (_lib("forward encoder encoder_block embed pool head backward", _MODEL_WHY), _TORCH_BLOCKS,
                Rule("torchvision", (), "the model is to be written, not imported"),
                Rule("timm", (), "the model is to be written, not imported"),
                Rule("transformers", (), "the model is to be written, not imported"))

EXERCISES: dict[str, Exercise] = {e.name: e for e in [
    Exercise(1, "patchify", {"patchify": ("image", "patch_size"),
                             "unpatchify": ("patches", "patch_size", "image_size")},
             (_lib("patchify unpatchify conv_windows patches", "cutting patches is this exercise"),
              Rule("torch", ("unfold", "fold", "Unfold", "Fold"), "cutting patches is this exercise; use reshapes"))),
    Exercise(2, "patch_embedding", {"patch_embedding": ("image", "weight", "bias")},
             (_lib("patch_embed patch_embed_matrix embed forward",  # not conv_windows: patchify, allowed, is it
                   "the convolution as a matrix product is this exercise"),
              Rule("torch", ("conv2d", "Conv2d", "convolution", "unfold", "Unfold"),
                   "the point is to write the convolution as one matrix product"),
              Rule("scipy", ("signal", "ndimage"), "the point is to write the convolution as one matrix product"))),
    Exercise(3, "positional_embedding", {"sincos_2d": ("grid_size", "dim"),
                                         "add_positions": ("tokens", "pos_embed", "cls_token")},
             (_lib("sincos_1d sincos_2d embed prepend_cls forward", "positional embeddings are this exercise"),)),
    Exercise(4, "attention", {"scaled_dot_product_attention": ("q", "k", "v"),
                              "multi_head_attention": ("x", "params", "num_heads")},
             (_lib("scaled_dot_product_attention multi_head_attention split_heads merge_heads encoder_block encoder "
                   "forward", "attention is this exercise"),
              Rule("torch", ("scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward",
                             "TransformerEncoderLayer", "TransformerEncoder"), "attention is this exercise"))),
    Exercise(5, "encoder_block", {"encoder_block": ("x", "params", "num_heads")},
             (_lib("layer_norm gelu mlp encoder_block encoder forward", "LayerNorm, GELU and the block are this "
                   "exercise"),
              Rule("torch", ("layer_norm", "LayerNorm", "gelu", "GELU", "TransformerEncoderLayer",
                             "TransformerEncoder"), "LayerNorm, GELU and the block are this exercise"))),
    Exercise(6, "pooling", {"pool": ("x", "mode", "num_prefix_tokens")},
             (_lib("pool forward", "pooling is this exercise"),)),
    Exercise(7, "vit_forward", {"vit_forward": ("seed", "image", "patch_size", "d_model", "num_heads", "d_ff",
                                                "num_layers", "num_classes")}, _MODEL_RULES,
             preload=("numpy", "vit_lessons")),
    Exercise(8, "vit_forward_cls", {"vit_forward_cls": ("seed", "image", "patch_size", "d_model", "num_heads",
                                                        "d_ff", "num_layers", "num_classes")}, _MODEL_RULES,
             preload=("numpy", "vit_lessons")),
    Exercise(9, "rollout", {"rollout": ("attentions",)},
             (_lib("interpret rollout", "attention rollout is this exercise"),)),
    Exercise(10, "block_backward", {"block_backward": ("x", "params", "num_heads", "dy")},
             (_lib("backward", "the gradients are this exercise"),
              Rule("torch", ("autograd", "func", "backward"), "the gradients are to be computed by hand"),
              Rule("functorch", (), "the gradients are to be computed by hand"),
              Rule("jax", (), "the gradients are to be computed by hand"),
              Rule("*", ("backward", "requires_grad_", "requires_grad"), "the gradients are to be computed by hand")),
             bonus=True),
]}


def exercise(name: str) -> Exercise:
    """The exercise called ``name`` (e.g. "vit_forward"); ValueError naming the choices otherwise."""
    if name not in EXERCISES:
        raise ValueError(f"exercise {name!r}: expected one of {', '.join(EXERCISES)}")
    return EXERCISES[name]


def find_submission(start: Path | None = None) -> Path:
    """The learner's ``exercises/`` folder: in the current directory or one of its parents, else the one
    beside the installed library (a clone of the repository)."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "exercises").is_dir() and any((d / "exercises").glob("ex[0-9][0-9]_*.py")):
            return d / "exercises"
    return Path(V.__file__).resolve().parent.parent / "exercises"


# ---- helpers shared by the public and the hidden cases -----------------------------------------------------
def model_case(func: str, seed: int, H: int, W: int, C: int, P: int, D: int, heads: int, F: int, L: int, K: int,
               dtype, rng: np.random.Generator) -> Case:
    image = rng.random((H, W, C)).astype(dtype)
    label = (f"image ({H}, {W}, {C}) {np.dtype(dtype).name}, patch {P}, d_model {D}, {heads} heads, d_ff {F}, "
             f"{L} layers, {K} classes")
    return Case(func, (seed, image, P, D, heads, F, L, K), label)


def config(H=4, W=4, C=3, P=2, D=8, heads=2, F=16, L=2, K=4, pool="cls") -> V.ViTConfig:
    return V.ViTConfig(image_size=(H, W), channels=C, patch_size=P, d_model=D, num_heads=heads, d_ff=F,
                       num_layers=L, num_classes=K, pool=pool)


def block_params(params: dict, i: int = 0, dtype=np.float32) -> dict:
    prefix = f"blocks.{i}."
    return {k[len(prefix):]: v.astype(dtype) for k, v in params.items() if k.startswith(prefix)}


def attention_params(params: dict, i: int = 0, dtype=np.float32) -> dict:
    prefix = f"blocks.{i}.attn."
    return {k[len(prefix):]: v.astype(dtype) for k, v in params.items() if k.startswith(prefix)}


def public_cases(name: str) -> list[Case]:
    """The worked examples of the exercise's docstring, the cases of the learner's self-check."""
    rng = np.random.default_rng(0)
    cfg = config()
    p = V.init_params(cfg, 0)
    image = rng.random((4, 4, 3), dtype=np.float32)
    x = rng.standard_normal((5, 8)).astype(np.float32)
    if name == "patchify":
        return [Case("patchify", (image, 2), "image (4, 4, 3), patch 2"),
                Case("unpatchify", (V.patchify(image, 2), 2, (4, 4)), "patches (4, 12), patch 2, image_size (4, 4)"),
                Case("patchify", (rng.random((5, 4, 3), dtype=np.float32), 2), "image (5, 4, 3), patch 2",
                     expect_error="ValueError")]
    if name == "patch_embedding":
        return [Case("patch_embedding", (image, p["patch_embed.weight"], p["patch_embed.bias"]),
                     "image (4, 4, 3), weight (8, 3, 2, 2), bias (8,)")]
    if name == "positional_embedding":
        tokens = rng.standard_normal((4, 8)).astype(np.float32)
        return [Case("sincos_2d", ((2, 3), 8), "grid (2, 3), dim 8"),
                Case("add_positions", (tokens, p["pos_embed"], p["cls_token"]), "tokens (4, 8), pos (5, 8), cls (8,)"),
                Case("add_positions", (tokens, p["pos_embed"][1:], None), "tokens (4, 8), pos (4, 8), no cls")]
    if name == "attention":
        q, k, v = (rng.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(3))
        return [Case("scaled_dot_product_attention", (q, k, v), "q, k, v (2, 5, 4)"),
                Case("multi_head_attention", (x, attention_params(p), 2), "x (5, 8), 2 heads")]
    if name == "encoder_block":
        return [Case("encoder_block", (x, block_params(p), 2), "x (5, 8), 2 heads, d_ff 16")]
    if name == "pooling":
        return [Case("pool", (x, "cls", 1), "x (5, 8), cls"), Case("pool", (x, "mean", 1), "x (5, 8), mean, 1 prefix"),
                Case("pool", (x, "mean", 0), "x (5, 8), mean, no prefix")]
    if name in ("vit_forward", "vit_forward_cls"):
        return [model_case(name, 0, 4, 4, 3, 2, 8, 2, 16, 2, 4, np.float32, np.random.default_rng(0))]
    if name == "rollout":
        _, att = V.forward(p, image, cfg, return_attention=True)
        return [Case("rollout", (att,), "attentions (2, 2, 5, 5)")]
    if name == "block_backward":
        return [Case("block_backward", (x.astype(np.float64), block_params(p, 0, np.float64), 2,
                                        rng.standard_normal((5, 8))), "x (5, 8) float64, 2 heads, dy (5, 8)")]
    raise ValueError(f"exercise {name!r}: expected one of {', '.join(EXERCISES)}")
