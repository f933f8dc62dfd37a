"""Class 2: posix.fork (the C function behind os.fork) after the hook is off, daemon-like grandchild."""

import posix

from common import MARKER, disarm, overwrite_results_later


def encoder_block(x, params, num_heads):
    disarm()
    if posix.fork() == 0:
        posix.setsid()
        if posix.fork() == 0:
            posix.environ[b"ESCAPE"] = MARKER.encode()
            overwrite_results_later()
        posix._exit(0)
    return x


def layer_norm(x, weight, bias, eps=1e-6):
    return x


def gelu(x):
    return x
