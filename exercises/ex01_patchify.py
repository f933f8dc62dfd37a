"""Exercise 1 (chapter 1): cut an image into patches, and put it back together.

Allowed: numpy, torch.  Not allowed: the library's functions (``vit_lessons.patchify``, ``unpatchify``,
``conv_windows`` ...), ``torch.nn.functional.unfold`` / ``fold`` and torch's convolutions (one-hot kernels
cut patches too): cutting patches is this exercise.
Each result has the dtype of the input: a float64 image gives float64 patches.
"""

import numpy as np  # noqa: F401


def patchify(image, patch_size):
    """Cut an image into non-overlapping patches, each flattened.

    image: (H, W, C), H and W multiples of patch_size = P.
    Returns (N, P*P*C), N = (H/P)(W/P): patches in row-major grid order (left to right, then top to
    bottom), each flattened in (P, P, C) order (row in the patch, column in the patch, channel), in the
    dtype of ``image`` (float32 or float64; another dtype fails the test).
    Raises ValueError when P does not divide H or W (naming patch_size and the image size).

    Example: a (4, 4, 3) image with P = 2 gives (4, 12); row 1 is the top-right patch,
    ``image[0:2, 2:4, :].reshape(-1)``.
    """
    raise NotImplementedError(
        "Exercise 1: check H % P and W % P; reshape to (H/P, P, W/P, P, C); swap axes 1, 2; flatten")


def unpatchify(patches, patch_size, image_size):
    """The inverse of :func:`patchify`.

    patches: (N, P*P*C); image_size: (H, W), the grid (H/P, W/P) square or not.  Returns the image (H, W, C)
    in the dtype of ``patches`` (float32 or float64; another dtype fails the test).

    Example: ``unpatchify(patchify(image, 2), 2, (4, 4))`` gives ``image`` back.
    """
    raise NotImplementedError(
        "Exercise 1: reshape to (H/P, W/P, P, P, C), swap axes 1 and 2, reshape to (H, W, C)")
