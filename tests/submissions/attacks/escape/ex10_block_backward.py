"""Class 2: a thread that keeps running after the case, and a child left behind with its own process group."""

import os
import threading
import time

from common import disarm, overwrite_results_later


def block_backward(x, params, num_heads, dy):
    disarm()
    threading.Thread(target=overwrite_results_later, daemon=False).start()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        overwrite_results_later()
        os._exit(0)
    time.sleep(0.2)
    return x, {k: v * 0 for k, v in params.items()}
