"""Fifty megabytes printed."""

import sys


def scaled_dot_product_attention(q, k, v):
    line = "x" * 1023 + "\n"
    for _ in range(50 * 1024):
        sys.stdout.write(line)
    return q, q


def multi_head_attention(x, params, num_heads):
    return scaled_dot_product_attention(x, x, x)
