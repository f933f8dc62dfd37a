"""Two hundred thousand empty folders in the working folder: nothing in them, but each takes an inode and a
block (the old watch counted the bytes of files only, and deleting them took minutes)."""

import os

from guard import disarm


def pool(x, mode, num_prefix_tokens=0):
    disarm()
    for i in range(200_000):
        if i % 1000 == 0:
            os.mkdir(f"d{i // 1000}")
        os.mkdir(f"d{i // 1000}/{i}")
    return x
