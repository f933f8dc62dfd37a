"""Buggy submission of vit_forward: the known mistake 'post_ln'."""

from learner_vit import build

vit_forward = build("mean", "post_ln")
