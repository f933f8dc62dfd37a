"""Class 6: garbage on the results pipe, then a well-formed frame claiming a perfect answer."""

import os

import numpy as np
from channel import FD, result


def pool(x, mode, num_prefix_tokens=0):
    os.write(FD, b"\xff\xfe garbage \x00" * 1000)
    good = x[..., 0, :] if mode == "cls" else x[..., num_prefix_tokens:, :].mean(-2)
    result(0, {"t": "array", "key": 0}, [{"dtype": "<f4", "shape": list(good.shape)}], good.astype("<f4").tobytes())
    return np.zeros(1)
