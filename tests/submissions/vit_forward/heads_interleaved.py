"""Buggy submission of vit_forward: the known mistake 'heads_interleaved'."""

from learner_vit import build

vit_forward = build("mean", "heads_interleaved")
