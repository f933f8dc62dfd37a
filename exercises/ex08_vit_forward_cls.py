"""Exercise 8 (chapter 7, with the class token of chapter 6): the class-token ViT, the original design.

Allowed and not allowed: as in exercise 7 (you may import your own ``vit_forward`` helpers from
``ex07_vit_forward`` and your blocks from ``ex05_encoder_block``; ``vit_lessons.prepend_cls`` is allowed).
"""

import numpy as np  # noqa: F401

import vit_lessons as V  # noqa: F401


def vit_forward_cls(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    """image (H, W, C) -> logits (num_classes,) of a class-token ViT.

    As exercise 7, except: the class token is prepended to the N patch tokens FIRST, and the positions
    (N + 1, D) are added AFTER that; the output is token 0 (the class token) after the final LayerNorm.
    Draw the parameters with ``pool="cls"``::

        cfg = V.ViTConfig(image_size=image.shape[:2], channels=image.shape[2], patch_size=patch_size,
                          d_model=d_model, num_heads=num_heads, d_ff=d_ff, num_layers=num_layers,
                          num_classes=num_classes, pool="cls")
        params = V.init_params(cfg, seed)   # adds cls_token (D,); pos_embed is (N + 1, D)

    Compute in the dtype of ``image``: the logits have its dtype (float32 or float64; another dtype fails
    the test); raise ValueError when patch_size does not divide H or W.  Worked example: image (4, 4, 3),
    P 2, D 8, 2 heads, F 16, 2 layers, 4 classes: tokens (4, 8) -> [cls; tokens] (5, 8) -> + pos_embed (5, 8)
    -> blocks (5, 8) -> LayerNorm -> token 0 (8,) -> logits (4,).
    """
    raise NotImplementedError(
        "Exercise 8: as exercise 7, but [cls_token; tokens] + pos_embed, and read token 0")
