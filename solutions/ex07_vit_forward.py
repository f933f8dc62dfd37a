"""Exercise 7 (chapter 7): the whole Vision Transformer, mean-pooled, as one function of plain arguments.

Allowed: numpy, torch (``F.conv2d`` for the patch embedding, ``F.layer_norm``, ``F.gelu`` ...),
``vit_lessons.ViTConfig`` and ``vit_lessons.init_params`` (to draw the parameters), the library's chapters 1-4
(``patchify``, ``patch_embed``, ``linear``, ``prepend_cls``, ``softmax``, ``multi_head_attention`` ...) and your
own exercises (``from ex05_encoder_block import encoder_block, layer_norm``).
Not allowed: the library's other functions (``vit_lessons.layer_norm``, ``gelu``, ``mlp`` (yours come from
exercise 5), ``encoder_block``, ``encoder``, ``embed``, ``pool``, ``head``, ``forward``, ``backward``,
``vit_lessons.interpret`` ...) and ``torch.nn.TransformerEncoder`` / ``TransformerEncoderLayer`` /
``MultiheadAttention``: the model is this exercise.
"""

import numpy as np  # noqa: F401

import vit_lessons as V  # noqa: F401


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    """image (H, W, C) -> logits (num_classes,) of a mean-pooled ViT.

    1. patch embedding (a convolution with kernel = stride = patch_size) -> tokens (N, D), N = HW / P^2;
    2. + a learned position embedding (N, D);
    3. num_layers pre-LN encoder blocks (LayerNorm eps 1e-6, exact GELU, no mask);
    4. a final LayerNorm;
    5. the mean over the N patch tokens -> (D,);
    6. the linear head -> (num_classes,), returned flat (1-D).

    The parameters are not yours to choose: draw them, in the canonical layout, with ::

        cfg = V.ViTConfig(image_size=image.shape[:2], channels=image.shape[2], patch_size=patch_size,
                          d_model=d_model, num_heads=num_heads, d_ff=d_ff, num_layers=num_layers,
                          num_classes=num_classes, pool="mean")
        params = V.init_params(cfg, seed)   # patch_embed.weight (D, C, P, P), pos_embed (N, D),
                                            # blocks.{i}.norm1.weight ..., norm.weight, head.weight (K, D)

    Compute in the dtype of ``image`` (cast the float32 parameters with ``.astype(image.dtype)``): the logits
    have the dtype of ``image`` (float32 or float64; another dtype fails the test).  numpy or torch both
    work; return a numpy array or a tensor.  Raises ValueError when patch_size does not divide H or W
    (``ViTConfig`` does).

    Worked example: image (4, 4, 3), patch_size 2, d_model 8, num_heads 2, d_ff 16, num_layers 2, 4 classes:
    the convolution gives a (2, 2, 8) grid -> tokens (4, 8); + pos_embed (4, 8); two blocks keep (4, 8);
    LayerNorm (4, 8); mean over axis 0 (the patches, not the features) -> (8,); head -> logits (4,).
    """
    # BEGIN SOLUTION hint: params; patch embed; + pos_embed; blocks; LayerNorm; mean over axis 0; head
    from ex05_encoder_block import encoder_block, layer_norm

    H, W, C = image.shape
    cfg = V.ViTConfig(image_size=(H, W), channels=C, patch_size=patch_size, d_model=d_model, num_heads=num_heads,
                      d_ff=d_ff, num_layers=num_layers, num_classes=num_classes, pool="mean")
    p = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
    x = V.patch_embed(image, p["patch_embed.weight"], p["patch_embed.bias"]) + p["pos_embed"]
    for i in range(num_layers):
        prefix = f"blocks.{i}."
        x = encoder_block(x, {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}, num_heads)
    x = layer_norm(x, p["norm.weight"], p["norm.bias"])
    return (x.mean(axis=0) @ p["head.weight"].T + p["head.bias"]).reshape(-1)
    # END SOLUTION
