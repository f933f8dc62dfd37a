"""Buggy patchify: reshapes the image straight to (N, P*P*C), so every 'patch' is a strip of rows."""


def patchify(image, patch_size):
    H, W, C = image.shape
    if H % patch_size or W % patch_size:
        raise ValueError("patch_size does not divide the image")
    return image.reshape(-1, patch_size * patch_size * C)


def unpatchify(patches, patch_size, image_size):
    return patches.reshape(*image_size, -1)
