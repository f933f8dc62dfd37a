"""Hostile submission: starts a program to read the solutions (the test puts their folder in SOLUTIONS)."""

import subprocess

SOLUTIONS = "__SOLUTIONS__"


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    text = subprocess.run(["cat", SOLUTIONS + "/ex07_vit_forward.py"], capture_output=True, text=True).stdout
    return [float(len(text))] * num_classes
