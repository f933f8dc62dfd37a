"""Ten gigabytes of memory, touched."""

import numpy as np


def encoder_block(x, params, num_heads):
    blocks = []
    for _ in range(10):
        blocks.append(np.ones(1 << 30, np.uint8))
    return x


def layer_norm(x, weight, bias, eps=1e-6):
    return x


def gelu(x):
    return x
