"""Buggy submission of vit_forward: the known mistake 'heads_wrong_axis'."""

from learner_vit import build

vit_forward = build("mean", "heads_wrong_axis")
