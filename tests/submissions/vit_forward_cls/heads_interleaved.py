"""Buggy submission of vit_forward_cls: the known mistake 'heads_interleaved'."""

from learner_vit import build

vit_forward_cls = build("cls", "heads_interleaved")
