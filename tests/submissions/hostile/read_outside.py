"""Hostile submission: tries to read the reference solution (the test puts its folder in SOLUTIONS)."""

import os

import numpy as np

SOLUTIONS = "__SOLUTIONS__"


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    names = os.listdir(SOLUTIONS)  # must fail: outside the submission
    text = open(os.path.join(SOLUTIONS, "ex07_vit_forward.py")).read()  # must fail too
    return np.zeros(num_classes) + len(text) + len(names)
