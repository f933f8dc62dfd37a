"""A correct submission that prints junk (JSON-like text, control characters) to stdout and stderr."""

import os
import sys

from learner_vit import build

_forward = build("mean")


def vit_forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    print('{"score": 1000, "tests": [} \x00\x1b[31m junk', image)
    print("\udcff not utf-8 ]]]", file=sys.stderr)
    os.write(1, b"\xff\xfe raw bytes\n")
    return _forward(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes)
