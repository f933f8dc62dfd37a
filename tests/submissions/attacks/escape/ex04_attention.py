"""Class 2: start a program with _posixsubprocess.fork_exec (no audit event) in a new session; it waits for
the grader to finish and then writes results.json."""

import os
import sys

import numpy as np
from common import MARKER, PERFECT, RESULTS, disarm


def _spawn():
    import _posixsubprocess

    disarm()
    script = f"sleep 2; for i in 1 2 3 4 5 6 7 8; do echo '{PERFECT}' > '{RESULTS}'; sleep 1; done # {MARKER}"
    args = [b"/bin/sh", b"-c", script.encode()]
    null = os.open("/dev/null", os.O_RDWR)
    r, w = os.pipe()
    # fork_exec's signature is the one of Python 3.11 (subprocess.py): new session, no audit event
    try:
        _posixsubprocess.fork_exec(args, [b"/bin/sh"], True, (), None, None, null, -1, -1, null, null, -1, r, w,
                                   True, True, -1, None, None, None, -1, None, False)
    except (TypeError, OSError) as exc:
        print("fork_exec:", exc, file=sys.stderr)


def scaled_dot_product_attention(q, k, v):
    _spawn()
    return v, np.zeros(q.shape[:-1] + (k.shape[-2],))


def multi_head_attention(x, params, num_heads):
    _spawn()
    return x, None
