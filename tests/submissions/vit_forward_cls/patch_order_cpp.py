"""Buggy submission of vit_forward_cls: the known mistake 'patch_order_cpp'."""

from learner_vit import build

vit_forward_cls = build("cls", "patch_order_cpp")
