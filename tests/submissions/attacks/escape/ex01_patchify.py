"""Class 1: disarm the hook through gc, then read the solution and the hidden tests."""

from common import LIBRARY, SOLUTIONS, disarm, leak, read


def patchify(image, patch_size):
    disarm()
    leak(read(f"{SOLUTIONS}/ex01_patchify.py"), read(f"{LIBRARY}/grading/hidden/__init__.py"))


def unpatchify(patches, patch_size, image_size):
    disarm()
    import os

    leak(str(os.listdir(SOLUTIONS)), str(os.listdir(LIBRARY + "/grading")))
