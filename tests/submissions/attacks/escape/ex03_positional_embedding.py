"""Class 2: fork, start a new session, fork again; the grandchild outlives the child and rewrites results.json."""

import os

import numpy as np
from common import MARKER, disarm, overwrite_results_later


def _escape():
    disarm()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                import setproctitle  # noqa: F401 - not installed; the marker is in the environment instead
            except ImportError:
                pass
            os.environ["ESCAPE"] = MARKER
            overwrite_results_later()
        os._exit(0)


def sincos_2d(grid_size, dim):
    _escape()
    return np.zeros((grid_size[0] * grid_size[1], dim))


def add_positions(tokens, pos_embed, cls_token=None):
    _escape()
    return tokens
