"""Class 6: a header nested 100 000 deep, one that is not UTF-8, one that claims 4 GB."""

import struct

from channel import FD, frame


def vit_forward_cls(seed, image, patch_size, d_model, num_heads, d_ff, num_layers, num_classes):
    frame(b"[" * 30000 + b"]" * 30000)
    frame(b'{"kind": "result", "case": 0, "record": "\xff\xfe\xfd"}')
    import os

    os.write(FD, struct.pack(">I", 0xFFFFFFF0) + b"{}")
    return None
