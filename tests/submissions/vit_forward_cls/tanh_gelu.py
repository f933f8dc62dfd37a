"""Buggy submission of vit_forward_cls: the known mistake 'tanh_gelu'."""

from learner_vit import build

vit_forward_cls = build("cls", "tanh_gelu")
