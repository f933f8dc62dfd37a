"""Class 7: correct, torch imported under another name inside the functions."""


def patchify(image, patch_size):
    import torch as T

    H, W, C = image.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(f"image {H}x{W} is not divisible by patch_size={P}")
    t = T.from_numpy(image).reshape(H // P, P, W // P, P, C).permute(0, 2, 1, 3, 4)
    return t.reshape(-1, P * P * C).numpy()


def unpatchify(patches, patch_size, image_size):
    import torch as T

    H, W = image_size
    P = patch_size
    C = patches.shape[-1] // (P * P)
    t = T.from_numpy(patches).reshape(H // P, W // P, P, P, C).permute(0, 2, 1, 3, 4)
    return t.reshape(H, W, C).numpy()
