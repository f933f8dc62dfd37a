"""Student B: no code of its own, only what student A left in /tmp."""

from channels import fetch


def patchify(image, patch_size):
    return fetch("tmp", ("p", image, patch_size))


def unpatchify(patches, patch_size, image_size):
    return fetch("tmp", ("u", patches, patch_size, image_size))
