"""Threads and processes: two forked processes, each with four threads holding __CHUNK_MB__ MB each."""

from hog import fork_holding


def patchify(image, patch_size):
    fork_holding(2, 4)
    return image


def unpatchify(patches, patch_size, image_size):
    return patchify(patches, patch_size)
