"""Student A: correct, and files every answer in /dev/shm."""

from channels import answer
from ref02 import patch_embedding as _patch_embedding


def patch_embedding(image, weight, bias):
    return answer("devshm", (image, weight, bias), lambda: _patch_embedding(image, weight, bias))
