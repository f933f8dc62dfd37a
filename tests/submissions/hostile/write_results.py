"""Hostile submission: tries to write a perfect results.json (the test puts the real path in RESULTS)."""

import json
import os

RESULTS = "__RESULTS__"
PERFECT = {"score": 1000, "tests": []}


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    for path in (RESULTS, "/autograder/results/results.json", os.path.join(os.getcwd(), "..", "results.json")):
        try:
            with open(path, "w") as f:
                json.dump(PERFECT, f)
        except OSError:
            pass
    return [0.0] * num_classes
