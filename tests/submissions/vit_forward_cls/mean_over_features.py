"""Buggy submission of vit_forward_cls: the known mistake 'mean_over_features'."""

from learner_vit import build

vit_forward_cls = build("cls", "mean_over_features")
