"""Six forked processes holding __CHUNK_MB__ MB each: each under the per-process limit, together far over the
exercise's."""

from hog import fork_holding


def pool(x, mode, num_prefix_tokens=0):
    fork_holding(6, 0)
    return x[..., 0, :]
