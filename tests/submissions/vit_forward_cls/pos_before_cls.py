"""Buggy submission of vit_forward_cls: the known mistake 'pos_before_cls'."""

from learner_vit import build

vit_forward_cls = build("cls", "pos_before_cls")
