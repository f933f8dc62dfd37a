"""Buggy submission of vit_forward: the known mistake 'mean_over_features'."""

from learner_vit import build

vit_forward = build("mean", "mean_over_features")
