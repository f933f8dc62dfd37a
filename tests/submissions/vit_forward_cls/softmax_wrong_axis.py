"""Buggy submission of vit_forward_cls: the known mistake 'softmax_wrong_axis'."""

from learner_vit import build

vit_forward_cls = build("cls", "softmax_wrong_axis")
