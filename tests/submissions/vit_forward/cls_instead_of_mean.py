"""Buggy submission of vit_forward: the known mistake 'cls_instead_of_mean'."""

from learner_vit import build

vit_forward = build("mean", "cls_instead_of_mean")
