"""Buggy submission of vit_forward: the known mistake 'scale_by_D'."""

from learner_vit import build

vit_forward = build("mean", "scale_by_D")
