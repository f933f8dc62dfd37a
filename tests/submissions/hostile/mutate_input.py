"""A submission that computes the right logits but scribbles on its input image."""

from learner_vit import build

_forward = build("mean")


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    logits = _forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes)
    image *= 0
    return logits
