"""Buggy submission of vit_forward_cls: the known mistake 'ln_eps_1e-5'."""

from learner_vit import build

vit_forward_cls = build("cls", "ln_eps_1e-5")
