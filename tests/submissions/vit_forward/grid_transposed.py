"""Buggy submission of vit_forward: the known mistake 'grid_transposed'."""

from learner_vit import build

vit_forward = build("mean", "grid_transposed")
