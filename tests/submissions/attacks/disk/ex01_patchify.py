"""Two hundred thousand empty files in a shared temporary folder (the sandbox's own /tmp inside bubblewrap)."""

import os

from guard import disarm


def patchify(image, patch_size):
    disarm()
    folder = "/tmp/vit-disk-__MARKER__"
    os.makedirs(folder, exist_ok=True)
    for i in range(200_000):
        os.close(os.open(f"{folder}/{i}", os.O_WRONLY | os.O_CREAT, 0o644))
    return image


def unpatchify(patches, patch_size, image_size):
    return patchify(patches, patch_size)
