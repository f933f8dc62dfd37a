"""Student A: correct (the reference, copied in as ref06.py by the test), and files every answer in System V
shared memory."""

from channels import answer
from ref06 import pool as _pool


def pool(x, mode, num_prefix_tokens=0):
    return answer("shm", (x, mode, num_prefix_tokens), lambda: _pool(x, mode, num_prefix_tokens))
