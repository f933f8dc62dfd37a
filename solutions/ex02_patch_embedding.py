"""Exercise 2 (chapter 2): the patch embedding, a strided convolution written as a matrix product.

Allowed: numpy, torch, the library's chapter 1 (``vit_lessons.patchify``, ``unpatchify``, ``conv_windows``)
or your own exercise 1, and ``vit_lessons.linear``.
Not allowed: convolutions (``torch.nn.functional.conv2d``, ``torch.nn.Conv2d``, ``torch.conv2d``, scipy's
convolve/correlate) and the library's later functions (``vit_lessons.patch_embed``, ``patch_embed_matrix``,
``embed`` ...): the point is to see that the convolution is one matrix product.
"""

import numpy as np  # noqa: F401


def patch_embedding(image, weight, bias):
    """Tokens x_p E + b: what ``Conv2d(C, D, kernel_size=P, stride=P)`` computes, as a matrix product.

    image: (H, W, C), channels last, H and W multiples of P.
    weight: (D, C, P, P), the convolution kernel as PyTorch stores it.  bias: (D,).
    Returns (N, D), N = (H/P)(W/P) in row-major grid order, in the dtype of ``image`` (float32 or float64;
    another dtype fails the test); the kernel and bias are float32: cast them.  Raises ValueError when P
    does not divide H or W.

    Example: image (4, 4, 3), weight (8, 3, 2, 2), bias (8,) -> (4, 8).  The kernel's axes are
    (D, C, P, P); patches flattened in (P, P, C) order need the kernel permuted to (D, P, P, C) first.
    """
    # BEGIN SOLUTION hint: patchify; kernel -> (D, P, P, C) -> (D, P*P*C); patches @ E.T + bias
    D, C, P, _ = weight.shape
    H, W, _ = image.shape
    if H % P or W % P:
        raise ValueError(f"patch_size={P} does not divide the image size {H}x{W}")
    patches = image.reshape(H // P, P, W // P, P, C).transpose(0, 2, 1, 3, 4).reshape(-1, P * P * C)
    E = weight.transpose(0, 2, 3, 1).reshape(D, P * P * C).astype(image.dtype)
    return patches @ E.T + bias.astype(image.dtype)
    # END SOLUTION
