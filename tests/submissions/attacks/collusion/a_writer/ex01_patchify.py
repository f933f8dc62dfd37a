"""Student A: correct, and files every answer in /tmp."""

from channels import answer
from ref01 import patchify as _patchify
from ref01 import unpatchify as _unpatchify


def patchify(image, patch_size):
    return answer("tmp", ("p", image, patch_size), lambda: _patchify(image, patch_size))


def unpatchify(patches, patch_size, image_size):
    return answer("tmp", ("u", patches, patch_size, image_size), lambda: _unpatchify(patches, patch_size, image_size))
