"""Exercise 8 (chapter 7, with the class token of chapter 6): the class-token ViT, the original design."""

from __future__ import annotations

from ..oracle import vit

# LayerNorm after pooling is no mistake here: the LayerNorm of token 0 is token 0 of the LayerNorm
from ..registry import Exercise, Function, register_exercise
from .ex07_vit_forward import ADVICE, ARGS, LIBRARY, MODEL_MISTAKES, RULES, WHY, model_cases


@register_exercise
def vit_forward_cls() -> Exercise:
    return Exercise(8, "vit_forward_cls",
                    functions={"vit_forward_cls": Function(ARGS, lambda S, *a: vit(S, *a, pool="cls"),
                                                           (*MODEL_MISTAKES, "pos_before_cls", "mean_instead_of_cls",
                                                            "cls_in_mean"))},
                    library=LIBRARY, library_why=WHY, rules=RULES, advice=ADVICE,
                    cases=lambda rng, repeat: model_cases(rng, repeat, "cls", "vit_forward_cls"))
