"""Buggy submission of vit_forward_cls: the known mistake 'cls_in_mean'."""

from learner_vit import build

vit_forward_cls = build("cls", "cls_in_mean")
