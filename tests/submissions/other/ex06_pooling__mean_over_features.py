"""Buggy pooling: the mean runs over the features (axis -1) instead of the tokens."""


def pool(x, mode, num_prefix_tokens=0):
    if mode == "cls":
        return x[..., 0, :]
    return x[..., num_prefix_tokens:, :].mean(axis=-1)
