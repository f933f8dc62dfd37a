"""Buggy submission of vit_forward_cls: the known mistake 'grid_transposed'."""

from learner_vit import build

vit_forward_cls = build("cls", "grid_transposed")
