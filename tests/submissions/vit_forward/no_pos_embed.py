"""Buggy submission of vit_forward: the known mistake 'no_pos_embed'."""

from learner_vit import build

vit_forward = build("mean", "no_pos_embed")
