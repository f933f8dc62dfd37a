"""Thirty megabytes back from each of two tests, then os._exit, again and again."""

import os

import numpy as np

CALLS = [0]


def patch_embedding(image, weight, bias):
    CALLS[0] += 1
    if CALLS[0] % 3 == 0:
        os._exit(1)
    return np.ones((30 << 20) // 8)
