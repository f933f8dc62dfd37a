"""Buggy submission of vit_forward_cls: the known mistake 'post_ln'."""

from learner_vit import build

vit_forward_cls = build("cls", "post_ln")
