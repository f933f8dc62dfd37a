"""Exercise 3, as learners write it: the 2-D sine-cosine table and z_0, with one mistake."""

import numpy as np

MISTAKES = {None: None, "sincos_axes_swapped": "sincos_axes_swapped", "sin_cos_swapped": "sin_cos_swapped",
            "sincos_interleaved": "sincos_interleaved", "sincos_wrong_width": "sincos_wrong_width",
            "sincos_square_grid": None, "no_pos_embed": "no_pos_embed", "pos_before_cls": "pos_before_cls",
            "mutates_tokens": "mutates_input", "unbatched_cls": "batch=batched&cls=with",
            "float32_result": "float32_result", "sincos_float64": "wrong_dtype"}


def build(mistake=None):
    m = mistake

    def one_axis(positions, d):
        k = np.arange(d // 2)
        omega = 1.0 / 10000 ** (k / (d if m == "sincos_wrong_width" else d // 2))
        angles = np.outer(positions.reshape(-1), omega)
        if m == "sincos_interleaved":
            return np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(len(angles), -1)
        halves = [np.cos(angles), np.sin(angles)] if m == "sin_cos_swapped" else [np.sin(angles), np.cos(angles)]
        return np.concatenate(halves, axis=1)

    def sincos_2d(grid_size, dim):
        gh, gw = grid_size
        if m == "sincos_square_grid":
            gw = gh
        rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        halves = [one_axis(rows, dim // 2), one_axis(cols, dim // 2)]
        if m == "sincos_axes_swapped":
            halves.reverse()
        table = np.concatenate(halves, axis=1)
        return table if m == "sincos_float64" else table.astype(np.float32)

    def add_positions(tokens, pos_embed, cls_token=None):
        if m == "float32_result":
            tokens = tokens.astype(np.float32)
        if cls_token is None:
            if m == "mutates_tokens":
                tokens += pos_embed
                return tokens
            return tokens if m == "no_pos_embed" else tokens + pos_embed
        if m == "unbatched_cls":
            cls = cls_token[None, :].astype(tokens.dtype)
        else:
            cls = np.broadcast_to(cls_token.astype(tokens.dtype), (*tokens.shape[:-2], 1, tokens.shape[-1]))
        if m == "pos_before_cls":
            return np.concatenate([cls, tokens + pos_embed[1:]], axis=-2)
        z = np.concatenate([cls, tokens], axis=-2)
        return z if m == "no_pos_embed" else z + pos_embed

    return {"sincos_2d": sincos_2d, "add_positions": add_positions}
