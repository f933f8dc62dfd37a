"""Buggy submission of vit_forward_cls: the known mistake 'heads_wrong_axis'."""

from learner_vit import build

vit_forward_cls = build("cls", "heads_wrong_axis")
