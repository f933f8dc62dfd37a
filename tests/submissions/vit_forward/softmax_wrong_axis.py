"""Buggy submission of vit_forward: the known mistake 'softmax_wrong_axis'."""

from learner_vit import build

vit_forward = build("mean", "softmax_wrong_axis")
