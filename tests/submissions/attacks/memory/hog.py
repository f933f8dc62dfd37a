"""Shared by the memory attacks: memory really used (every page touched), held in forked processes."""

import os
import threading
import time

from guard import disarm

MB = int("__CHUNK_MB__")


def hold(seconds=60):
    block = bytearray(MB << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(seconds)


def fork_holding(processes, threads):
    """``processes`` forked processes, each holding MB in each of its ``threads`` threads (0: in itself)."""
    disarm()
    for _ in range(processes):
        if os.fork() == 0:
            try:
                workers = [threading.Thread(target=hold) for _ in range(threads)]
                for t in workers:
                    t.start()
                if workers:
                    time.sleep(60)
                else:
                    hold()
            finally:
                os._exit(0)
    time.sleep(60)
