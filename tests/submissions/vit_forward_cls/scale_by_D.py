"""Buggy submission of vit_forward_cls: the known mistake 'scale_by_D'."""

from learner_vit import build

vit_forward_cls = build("cls", "scale_by_D")
