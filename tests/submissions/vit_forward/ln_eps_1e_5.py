"""Buggy submission of vit_forward: the known mistake 'ln_eps_1e-5'."""

from learner_vit import build

vit_forward = build("mean", "ln_eps_1e-5")
