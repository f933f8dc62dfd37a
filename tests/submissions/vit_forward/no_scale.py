"""Buggy submission of vit_forward: the known mistake 'no_scale'."""

from learner_vit import build

vit_forward = build("mean", "no_scale")
