"""Student A: correct, and files every answer in a world-writable folder inside /var/tmp."""

from channels import answer
from ref03 import add_positions as _add_positions
from ref03 import sincos_2d as _sincos_2d


def sincos_2d(grid_size, dim):
    return answer("nested", ("s", grid_size, dim), lambda: _sincos_2d(grid_size, dim))


def add_positions(tokens, pos_embed, cls_token=None):
    return answer("nested", ("a", tokens, pos_embed, cls_token), lambda: _add_positions(tokens, pos_embed, cls_token))
