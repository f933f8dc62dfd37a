"""Class 4: the library's positional embedding and class token by names built at run time."""

import vit_lessons as V


def sincos_2d(grid_size, dim):
    return vars(V)["sincos" + "_2d"](grid_size, dim)


def add_positions(tokens, pos_embed, cls_token=None):
    lib = V
    prepend = getattr(lib, "prepend" + "_cls")
    if cls_token is None:  # the library's prepend, then the class token dropped again
        return prepend(tokens, tokens[..., 0, :] * 0)[..., 1:, :] + pos_embed.astype(tokens.dtype)
    return prepend(tokens, cls_token.astype(tokens.dtype)) + pos_embed.astype(tokens.dtype)
