"""Class 1: torch's autograd in exercise 10, torch reached by ROUTE (filled in by the test): "sys.modules" (the
grader loaded it for a helper nothing imports), "helper" (the helper that imports torch, imported at run
time, where the reading of the code cannot see it) or "disarmed" (the import blocker taken out of the
learner's own process first)."""

import sys
from types import SimpleNamespace

import numpy as np

import vit_lessons as V

ROUTE = "__ROUTE__"


def _torch():
    if ROUTE == "sys.modules":
        return sys.modules["torch"]
    if ROUTE == "disarmed":  # the audit hook switched off too (guard.py of the attack folders)
        __builtins__["__imp" + "ort__"]("guard").disarm()
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Blocker"]
        return __builtins__["__imp" + "ort__"]("torch")
    return __builtins__["__imp" + "ort__"]("torch_helper").torch


def block_backward(x, params, num_heads, dy):
    T = _torch()
    xt = T.tensor(x, requires_grad=True)
    pt = {f"blocks.0.{k}": T.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    y = V.encoder_block(xt, pt, 0, SimpleNamespace(num_heads=num_heads, ln_eps=1e-6))
    keys = list(params)
    grads = T.autograd.grad((y * T.tensor(dy)).sum(), [xt, *(pt[f"blocks.0.{k}"] for k in keys)])
    return grads[0].detach().numpy(), {k: g.detach().numpy() for k, g in zip(keys, grads[1:], strict=True)}
