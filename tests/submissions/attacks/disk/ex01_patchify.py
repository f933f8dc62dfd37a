"""Empty files in a shared temporary folder (the sandbox's own /tmp inside bubblewrap), by the million until
stopped."""

import os
import time

from guard import disarm


def patchify(image, patch_size):
    disarm()
    folder = "/tmp/vit-disk-__DISK__"
    os.makedirs(folder, exist_ok=True)
    for i in range(2_000_000):
        os.close(os.open(f"{folder}/{i}", os.O_WRONLY | os.O_CREAT, 0o644))
    time.sleep(120)


def unpatchify(patches, patch_size, image_size):
    return patchify(patches, patch_size)
