"""Buggy submission of vit_forward_cls: the known mistake 'no_final_ln'."""

from learner_vit import build

vit_forward_cls = build("cls", "no_final_ln")
