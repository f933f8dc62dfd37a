"""Hostile submission: never returns."""


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    while True:
        pass
