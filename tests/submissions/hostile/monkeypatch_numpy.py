"""Hostile submission: makes numpy's comparisons always succeed, then returns garbage."""

import numpy as np

np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.abs = lambda x, *a, **k: np.zeros_like(x)


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    return np.full(num_classes, 123.0, dtype=image.dtype)
