"""Buggy submission of vit_forward_cls: the known mistake 'mean_instead_of_cls'."""

from learner_vit import build

vit_forward_cls = build("cls", "mean_instead_of_cls")
