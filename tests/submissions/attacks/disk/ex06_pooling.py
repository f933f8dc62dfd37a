"""Empty folders in the working folder, by the million until stopped: nothing in them, but each takes an
inode and a block (the old watch counted the bytes of files only, and deleting 150 000 took minutes)."""

import os
import time

from guard import disarm


def pool(x, mode, num_prefix_tokens=0):
    disarm()
    for i in range(2_000_000):
        if i % 1000 == 0:
            os.mkdir(f"d{i // 1000}")
        os.mkdir(f"d{i // 1000}/{i}")
    time.sleep(120)
