"""Chapter 1: cutting an image into patches, and putting it back together.

An image x of shape (H, W, C) becomes a sequence of N = HW / P^2 patches, each
flattened to P*P*C numbers (the paper's x_p in R^{N x (P^2 C)}).  The grid is read
row-major (left to right, then top to bottom) and each patch is flattened in
(P, P, C) order: row inside the patch, column inside the patch, channel.
"""

from __future__ import annotations

from .backend import device, namespace
from .checks import channels_first_hint, check_array, check_int, check_pair, check_shape, check_tiling


def _check_image(images, name: str = "images"):
    check_array(name, images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{name} has shape {tuple(getattr(images, 'shape', ()))}: "
                         f"expected (H, W, C) or (B, H, W, C), channels last")


def conv_windows(images, kernel: int, stride: int, padding: int = 0):
    """Every window a convolution with this kernel, stride and padding would see.

    images: (..., H, W, C) channels last.
    Returns (..., outH, outW, kernel, kernel, C) with outH = floor((H + 2 padding - kernel) / stride) + 1.
    With stride == kernel and padding == 0 this is a pure reshape (the patches of a ViT);
    otherwise windows overlap or leave gaps, and are gathered one kernel offset at a time.
    """
    check_shape("images", images, (..., "H", "W", "C"))
    check_int("kernel", kernel, 1)
    check_int("stride", stride, 1)
    check_int("padding", padding, 0)
    xp = namespace(images)
    *lead, H, W, C = images.shape
    if min(H, W) == 0:
        raise ValueError(f"images has shape {tuple(images.shape)}: the image is empty (its sides must be at least "
                         f"kernel - 2*padding = {kernel - 2 * padding})")
    if kernel > min(H, W) + 2 * padding:
        raise ValueError(f"kernel={kernel}: expected at most the padded image side min({H}, {W}) + 2*{padding}"
                         f"{channels_first_hint(images.shape)}")
    if stride == kernel and padding == 0 and H % kernel == 0 and W % kernel == 0:
        gh, gw = H // kernel, W // kernel
        x = xp.reshape(images, (*lead, gh, kernel, gw, kernel, C))
        n = len(lead)
        return xp.permute_dims(x, (*range(n), n, n + 2, n + 1, n + 3, n + 4))
    if padding:
        padded = xp.zeros((*lead, H + 2 * padding, W + 2 * padding, C), dtype=images.dtype,
                          device=device(images))
        padded[..., padding:padding + H, padding:padding + W, :] = images
        images, H, W = padded, H + 2 * padding, W + 2 * padding
    oh, ow = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    rows = [xp.stack([images[..., i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
                      for j in range(kernel)], axis=-2) for i in range(kernel)]
    return xp.stack(rows, axis=-3)


def patchify(images, patch_size: int):
    """Cut images into non-overlapping, flattened patches.

    images: (H, W, C) or (B, H, W, C), with H and W multiples of ``patch_size`` = P.
    Returns (N, P*P*C) or (B, N, P*P*C), N = (H/P)(W/P), patches in row-major grid order,
    each flattened in (P, P, C) order.
    """
    _check_image(images)
    xp = namespace(images)
    *lead, H, W, C = images.shape
    P = check_int("patch_size", patch_size, 1)
    check_tiling(images.shape, P, "patch_size", P)
    windows = conv_windows(images, P, P)
    return xp.reshape(windows, (*lead, (H // P) * (W // P), P * P * C))


def unpatchify(patches, patch_size: int, grid_size: tuple[int, int], channels: int):
    """Inverse of :func:`patchify`.

    patches: (N, P*P*C) or (B, N, P*P*C) with N = gh * gw.
    Returns (gh*P, gw*P, C) or (B, gh*P, gw*P, C).
    """
    check_shape("patches", patches, (..., "N", "L"))
    xp = namespace(patches)
    *lead, N, L = patches.shape
    P, C = check_int("patch_size", patch_size, 1), check_int("channels", channels, 1)
    gh, gw = check_pair("grid_size", grid_size, low=1, what="(gh, gw) of positive ints")
    if N != gh * gw or L != P * P * C:
        raise ValueError(f"patches has shape {tuple(patches.shape)}: expected (..., {gh * gw}, {P * P * C}) "
                         f"for grid_size={grid_size}, patch_size={P}, channels={C}")
    x = xp.reshape(patches, (*lead, gh, gw, P, P, C))
    n = len(lead)
    x = xp.permute_dims(x, (*range(n), n, n + 2, n + 1, n + 3, n + 4))
    return xp.reshape(x, (*lead, gh * P, gw * P, C))

