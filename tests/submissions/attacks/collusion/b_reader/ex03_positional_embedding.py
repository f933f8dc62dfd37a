"""Student B: no code of its own, only what student A left in a world-writable folder inside /var/tmp."""

from channels import fetch


def sincos_2d(grid_size, dim):
    return fetch("nested", ("s", grid_size, dim))


def add_positions(tokens, pos_embed, cls_token=None):
    return fetch("nested", ("a", tokens, pos_embed, cls_token))
