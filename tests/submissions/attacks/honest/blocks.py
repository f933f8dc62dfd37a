"""A helper of the learner's: LayerNorm and GELU in torch, from its elementary operations."""

import math

import torch
from torch import nn  # noqa: F401 - imported the way the old reader missed in a helper


def layer_norm(x, weight, bias, eps=1e-6):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1.0 + torch.special.erf(x / math.sqrt(2.0)))
