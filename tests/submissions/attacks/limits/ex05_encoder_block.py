"""Memory: gigabytes touched one at a time (first test), then 8 GB at once (the others)."""

import numpy as np

CALLS = [0]


def encoder_block(x, params, num_heads):
    CALLS[0] += 1
    if CALLS[0] > 1:
        return np.ones(8 << 30, np.uint8)
    blocks = []
    for _ in range(10):
        blocks.append(np.ones(1 << 30, np.uint8))
    return x


def layer_norm(x, weight, bias, eps=1e-6):
    return x


def gelu(x):
    return x
