"""vit_lessons: the Vision Transformer, one concept per module, in numpy and torch from one source.

The modules follow the book: config, patches, embedding, attention, encoder, model, data, train,
checkpoints, interpret, plots, widgets, backward, convert; grading holds the exercises' checks.
Below them all, what every chapter shares: backend (numpy or torch), ops (``linear``, the
forward's record of intermediates) and checks (argument validation).
"""

from .attention import merge_heads, multi_head_attention, scaled_dot_product_attention, softmax, split_heads
from .backend import to_torch
from .backward import backward
from .checkpoints import load_checkpoint, load_pretrained, save_checkpoint
from .config import PRESETS, ViTConfig, conv_output_size, flops, num_params, param_shapes, preset
from .data import make_shapes, photo
from .embedding import embed, patch_embed, patch_embed_matrix, prepend_cls, resize_pos_embed, sincos_1d, sincos_2d
from .encoder import encoder, encoder_block, gelu, layer_norm, mlp
from .model import check_images, check_params, forward, head, init_params, init_params_for_training, pool
from .ops import linear
from .patches import conv_windows, patchify, unpatchify

__all__ = [
    "PRESETS",
    "ViTConfig",
    "backward",
    "check_images",
    "check_params",
    "conv_output_size",
    "conv_windows",
    "embed",
    "encoder",
    "encoder_block",
    "flops",
    "forward",
    "gelu",
    "head",
    "init_params",
    "init_params_for_training",
    "layer_norm",
    "linear",
    "load_checkpoint",
    "load_pretrained",
    "make_shapes",
    "merge_heads",
    "mlp",
    "multi_head_attention",
    "num_params",
    "param_shapes",
    "patch_embed",
    "patch_embed_matrix",
    "patchify",
    "photo",
    "pool",
    "prepend_cls",
    "preset",
    "resize_pos_embed",
    "save_checkpoint",
    "scaled_dot_product_attention",
    "sincos_1d",
    "sincos_2d",
    "softmax",
    "split_heads",
    "to_torch",
    "unpatchify",
]
