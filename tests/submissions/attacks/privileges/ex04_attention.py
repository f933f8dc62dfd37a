"""Writing on the host: a file created through the host's root (open_by_handle_at), and the read-only
job folder remounted read-write (CAP_SYS_ADMIN in the sandbox's own mount namespace)."""

import os

from hostfs import LIBC, attempt, check, host_root

MS_REMOUNT, MS_BIND = 32, 4096


def _write_marker():
    fd = os.open("__MARKER_FILE__".lstrip("/"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=host_root())
    os.write(fd, b"written by the learner's code\n")
    os.close(fd)


def _remount():
    here = os.path.dirname(os.path.realpath(__file__))
    check(LIBC.mount(None, here.encode(), None, MS_REMOUNT | MS_BIND, None), "remount")
    with open(os.path.join(here, "written.txt"), "w") as f:
        f.write("x")


def scaled_dot_product_attention(q, k, v):
    raise RuntimeError(f"marker {attempt(_write_marker)} remount {attempt(_remount)}")


def multi_head_attention(x, params, num_heads):
    return scaled_dot_product_attention(x, x, x)
