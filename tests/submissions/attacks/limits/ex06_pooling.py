"""Both cores busy in threads, forever."""

import threading


def _spin():
    while True:
        pass


def pool(x, mode, num_prefix_tokens=0):
    for _ in range(2):
        threading.Thread(target=_spin, daemon=True).start()
    _spin()
