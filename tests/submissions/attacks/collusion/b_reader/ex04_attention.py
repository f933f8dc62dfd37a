"""Student B: no code of its own, only what student A left in /var/tmp."""

from channels import fetch


def scaled_dot_product_attention(q, k, v):
    return fetch("vartmp", ("s", q, k, v))


def multi_head_attention(x, params, num_heads):
    return fetch("vartmp", ("m", x, params, num_heads))
