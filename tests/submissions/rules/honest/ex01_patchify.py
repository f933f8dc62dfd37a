"""Honest exercise 1: numpy.typing annotations, a type alias, keyword-only helpers (written with CRLF)."""

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating]


def _grid(H: int, W: int, *, P: int) -> tuple[int, int]:
    if H % P or W % P:
        raise ValueError(f"patch_size={P} does not divide the image size {H}x{W}")
    return H // P, W // P


def patchify(image: Array, patch_size: int) -> Array:
    H, W, C = image.shape
    gh, gw = _grid(H, W, P=patch_size)
    P = patch_size
    return image.reshape(gh, P, gw, P, C).transpose(0, 2, 1, 3, 4).reshape(gh * gw, P * P * C)


def unpatchify(patches: Array, patch_size: int, image_size: tuple[int, int]) -> Array:
    H, W = image_size
    P = patch_size
    C = patches.shape[-1] // (P * P)
    return patches.reshape(H // P, W // P, P, P, C).transpose(0, 2, 1, 3, 4).reshape(H, W, C)
