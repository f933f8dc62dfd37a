"""Buggy submission of vit_forward: the known mistake 'tanh_gelu'."""

from learner_vit import build

vit_forward = build("mean", "tanh_gelu")
