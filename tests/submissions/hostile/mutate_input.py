"""A submission that computes the right logits but scribbles on its input image."""

from learner_vit import build

_forward = build("mean")


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    try:
        return _forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes)
    finally:  # also when it raises the ValueError it should: a mutated input fails the case all the same
        image *= 0
