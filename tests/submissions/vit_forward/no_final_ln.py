"""Buggy submission of vit_forward: the known mistake 'no_final_ln'."""

from learner_vit import build

vit_forward = build("mean", "no_final_ln")
