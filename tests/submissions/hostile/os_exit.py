"""Hostile submission: ends the process at once (no clean-up, no exception)."""

import os


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    os._exit(0)
