"""Buggy rollout: multiplies the layers with the earlier layer on the left."""

import numpy as np


def rollout(attentions):
    T = attentions.shape[-1]
    eye = np.eye(T, dtype=attentions.dtype)
    R = eye
    for layer in attentions:
        A = 0.5 * layer.mean(axis=0) + 0.5 * eye
        R = R @ (A / A.sum(axis=-1, keepdims=True))
    return R[0, 1:]
