"""Student A: correct, and files every answer in /var/tmp."""

from channels import answer
from ref04 import multi_head_attention as _multi_head_attention
from ref04 import scaled_dot_product_attention as _scaled_dot_product_attention


def scaled_dot_product_attention(q, k, v):
    return answer("vartmp", ("s", q, k, v), lambda: _scaled_dot_product_attention(q, k, v))


def multi_head_attention(x, params, num_heads):
    return answer("vartmp", ("m", x, params, num_heads), lambda: _multi_head_attention(x, params, num_heads))
