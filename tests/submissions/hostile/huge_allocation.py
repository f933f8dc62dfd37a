"""Hostile submission: asks for 8 TB."""

import numpy as np


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    return np.ones(1 << 40)
