"""Class 4: the convolution through torch.ops.aten, after torch's own names were looked for."""

import torch


def patch_embedding(image, weight, bias):
    P = weight.shape[-1]
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    w = torch.from_numpy(weight.astype(image.dtype))
    b = torch.from_numpy(bias.astype(image.dtype))
    out = torch.ops.aten.convolution(x, w, b, [P, P], [0, 0], [1, 1], False, [0, 0], 1)
    return out[0].flatten(1).T.numpy()
