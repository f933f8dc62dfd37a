"""Student B: no code of its own, only what student A left in System V shared memory."""

from channels import fetch


def pool(x, mode, num_prefix_tokens=0):
    return fetch("shm", (x, mode, num_prefix_tokens))
