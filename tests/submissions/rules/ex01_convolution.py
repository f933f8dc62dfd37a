"""Class 2: patches cut by a convolution with one-hot kernels (and put back by its transpose), through
``F.conv2d``, ``aten::convolution.out`` and ``Tensor.unfold``, one route per test (named where the reading of
the code does not see them)."""

from operator import attrgetter

import torch
import torch.nn.functional as F

ATEN = torch.ops.aten
COUNT = [0]


def _one_hot(P, C, dtype):
    """(P*P*C, C, P, P): output channel (i, j, c) picks pixel (i, j) of channel c."""
    eye = torch.eye(P * P * C, dtype=dtype).reshape(P * P * C, P, P, C)
    return eye.permute(0, 3, 1, 2).contiguous()


ROUTES = [
    lambda x, k, P: attrgetter("conv" + "2d")(F)(x, k, stride=P),
    lambda x, k, P: attrgetter("convol" + "ution.out")(ATEN)(x, k, None, [P, P], [0, 0], [1, 1], False, [0, 0], 1,
                                         out=torch.empty(1, k.shape[0], x.shape[2] // P, x.shape[3] // P,
                                                         dtype=x.dtype)),
    lambda x, k, P: x[0].unfold(1, P, P).unfold(2, P, P).permute(1, 2, 3, 4, 0).reshape(
        1, x.shape[2] // P, x.shape[3] // P, -1).permute(0, 3, 1, 2),
]


def patchify(image, patch_size):
    H, W, C = image.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(f"patch_size={P} does not divide the image size {H}x{W}")
    route = ROUTES[COUNT[0] % len(ROUTES)]
    COUNT[0] += 1
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None]
    out = route(x, _one_hot(P, C, x.dtype), P)
    return out[0].reshape(P * P * C, -1).T.contiguous().numpy()


def unpatchify(patches, patch_size, image_size):
    H, W = image_size
    P = patch_size
    C = patches.shape[-1] // (P * P)
    t = torch.from_numpy(patches.copy()).T.reshape(1, P * P * C, H // P, W // P)
    return F.conv_transpose2d(t, _one_hot(P, C, t.dtype), stride=P)[0].permute(1, 2, 0).contiguous().numpy()
