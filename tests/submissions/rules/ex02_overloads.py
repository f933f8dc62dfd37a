"""Class 2: torch's convolution through other overloads and other operators of its family, one route per
test (out= overloads, the slow, dilated, mkldnn and TorchScript-only kernels, the deprecated overload of
``_convolution``, im2col), and scipy.signal imported where the reading of the code cannot see it."""

import numpy as np
import torch

ATEN = torch.ops.aten
COUNT = [0]


def _out(x, w):
    return torch.empty(1, w.shape[0], x.shape[2] // w.shape[-1], x.shape[3] // w.shape[-1], dtype=x.dtype)


def _scipy(x, w, b, P):
    signal = __builtins__["__imp" + "ort__"]("scipy.sig" + "nal", fromlist=["correlate"])
    image, kernel = x[0].numpy(), w.numpy()
    maps = [sum(signal.correlate(image[c], kernel[d, c], mode="valid") for c in range(image.shape[0]))[::P, ::P]
            for d in range(kernel.shape[0])]
    return torch.from_numpy(np.stack(maps)[None]) + b[None, :, None, None]


ROUTES = [
    ("_slow_conv2d_forward.output", lambda x, w, b, P: ATEN._slow_conv2d_forward.output(
        x, w, [P, P], b, [P, P], [0, 0], output=_out(x, w))),
    ("thnn_conv2d.out", lambda x, w, b, P: ATEN.thnn_conv2d.out(x, w, [P, P], b, [P, P], [0, 0], out=_out(x, w))),
    ("slow_conv_dilated2d", lambda x, w, b, P: ATEN.slow_conv_dilated2d(x, w, [P, P], b, [P, P])),
    ("_convolution.deprecated", lambda x, w, b, P: ATEN._convolution.deprecated(
        x, w, b, [P, P], [0, 0], [1, 1], False, [0, 0], 1, False, False, True)),
    ("prim::mkldnn_convolution", lambda x, w, b, P: torch.ops.prim.mkldnn_convolution(
        x.float(), w.float(), b.float(), [P, P], [0, 0], [1, 1], 1).to(x.dtype)),
    ("_jit_get_operation", lambda x, w, b, P: torch._C._jit_get_operation("prim::mkldnn_convolution")[0](
        x.float(), w.float(), b.float(), [P, P], [0, 0], [1, 1], 1).to(x.dtype)),
    ("im2col", lambda x, w, b, P: (w.reshape(w.shape[0], -1) @ ATEN.im2col(x, [P, P], [1, 1], [0, 0], [P, P])
                                   + b[:, None]).reshape(_out(x, w).shape)),
    ("scipy.signal", _scipy),
]


def patch_embedding(image, weight, bias):
    H, W, _ = image.shape
    P = weight.shape[-1]
    if H % P or W % P:
        raise ValueError(f"patch_size={P} does not divide the image size {H}x{W}")
    _, route = ROUTES[COUNT[0] % len(ROUTES)]
    COUNT[0] += 1
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].contiguous()
    w, b = torch.from_numpy(weight.astype(image.dtype)), torch.from_numpy(bias.astype(image.dtype))
    out = route(x, w, b, P)
    return out[0].reshape(w.shape[0], -1).T.contiguous().numpy()
