"""Buggy submission of vit_forward: the known mistake 'patch_order_cpp'."""

from learner_vit import build

vit_forward = build("mean", "patch_order_cpp")
