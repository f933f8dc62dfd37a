"""One oracle, checked from outside: on every hidden case, the reference solutions, the grader's oracle and
the library's own public functions (torch autograd for the backward pass) agree.

The grader, the self-check and the hints take their expected values from the oracle
(:mod:`vit_lessons.grading.oracle`); grading ``solutions/`` against the oracle alone would not notice an
oracle and a solution that share one error.  Here the solutions are called directly (in this process) on
each hidden case and compared with the library's computation written out below, independently of the
oracle's stages; the oracle is compared with it too.
"""

import copy
import hashlib
import importlib.util

import numpy as np
import pytest
import torch

import vit_lessons as V
from vit_lessons import interpret
from vit_lessons.grading import hidden
from vit_lessons.grading.oracle import CORRECT
from vit_lessons.grading.registry import EXERCISES, TOLERANCES

from .grading_helpers import REPO


def _cfg(D, heads, F=None, L=1, pool="cls", **more):
    return V.ViTConfig(image_size=(4, 4), channels=3, patch_size=2, d_model=D, num_heads=heads,
                       d_ff=F or 2 * D, num_layers=L, num_classes=3, pool=pool, **more)


def _add_positions(tokens, pos, cls):
    if cls is None:
        return tokens + pos.astype(tokens.dtype)
    return V.prepend_cls(tokens, cls.astype(tokens.dtype)) + pos.astype(tokens.dtype)


def _mha(x, params, heads):
    p = {f"attn.{k}": v.astype(x.dtype) for k, v in params.items()}
    return V.multi_head_attention(x, p, "attn.", heads)


def _block(x, params, heads):
    D, F = x.shape[-1], params["mlp.fc1.weight"].shape[0]
    p = {f"blocks.0.{k}": v if torch.is_tensor(v) else v.astype(x.dtype) for k, v in params.items()}
    out = V.encoder_block(x, p, 0, _cfg(D, heads, F))
    return out[0] if isinstance(out, tuple) else out


def _pool(x, mode, prefix=0):
    if mode == "cls":
        return V.pool(x, _cfg(x.shape[-1], 1, pool="cls"))
    return V.pool(x[..., prefix:, :], _cfg(x.shape[-1], 1, pool="mean"))


def _vit(pool):
    def forward(seed, image, P, D, heads, F, L, K):
        H, W, C = image.shape
        cfg = V.ViTConfig(image_size=(H, W), channels=C, patch_size=P, d_model=D, num_heads=heads, d_ff=F,
                          num_layers=L, num_classes=K, pool=pool)
        params = {k: v.astype(image.dtype) for k, v in V.init_params(cfg, seed).items()}
        return V.forward(params, image, cfg).reshape(-1)
    return forward


def _rollout(attentions):
    return interpret.rollout(attentions)[0, 1:]


def _block_backward(x, params, heads, dy):
    """(dx, grads) of sum(dy * block(x)) by torch's autograd through the library's block."""
    xt = torch.tensor(x, requires_grad=True)
    pt = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    (torch.as_tensor(dy) * _block(xt, pt, heads)).sum().backward()
    return xt.grad.numpy(), {k: v.grad.numpy() for k, v in pt.items()}


LIBRARY = {
    "patchify": V.patchify,
    "unpatchify": lambda p, P, size: V.unpatchify(p, P, (size[0] // P, size[1] // P), p.shape[-1] // (P * P)),
    "patch_embedding": lambda x, w, b: V.patch_embed(x, w.astype(x.dtype), b.astype(x.dtype)),
    "sincos_2d": V.sincos_2d,
    "add_positions": _add_positions,
    "scaled_dot_product_attention": V.scaled_dot_product_attention,
    "multi_head_attention": _mha,
    "encoder_block": _block,
    "pool": _pool,
    "vit_forward": _vit("mean"),
    "vit_forward_cls": _vit("cls"),
    "rollout": _rollout,
    "block_backward": _block_backward,
}


def _solution(ex):
    spec = importlib.util.spec_from_file_location(f"solution_{ex.name}", REPO / "solutions" / ex.file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(got, expected, where):
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), where
        for k in expected:
            _close(got[k], expected[k], f"{where}[{k}]")
        return
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), where
        for n, (g, e) in enumerate(zip(got, expected, strict=True)):
            _close(g, e, f"{where}[{n}]")
        return
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, (where, got.dtype, got.shape,
                                                                         expected.dtype, expected.shape)
    atol, rtol = TOLERANCES[str(expected.dtype)]
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol, err_msg=where)


def test_the_library_reference_covers_every_exercise_function():
    assert set(LIBRARY) == {f for ex in EXERCISES.values() for f in ex.functions}


#: the hidden cases of no submission in particular, and of two submissions' files
DIGESTS = [b"", hashlib.sha256(b"one submission").digest(), hashlib.sha256(b"another").digest()]


@pytest.mark.parametrize("digest", DIGESTS, ids=["no-submission", "submission-1", "submission-2"])
@pytest.mark.parametrize("name", list(EXERCISES))
def test_solutions_and_oracle_agree_with_the_library_on_every_hidden_case(name, digest, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "solutions"))  # exercises 7 and 8 import exercise 5's block
    ex = EXERCISES[name]
    solution = _solution(ex)
    cases = hidden.cases(name, digest)
    assert cases
    for i, case in enumerate(cases):
        where = f"{name} hidden case {i}: {case.label}"
        func = getattr(solution, case.func)
        if case.expect_error:
            with pytest.raises(ValueError):
                func(*copy.deepcopy(case.args))
            continue
        library = LIBRARY[case.func](*copy.deepcopy(case.args))
        _close(func(*copy.deepcopy(case.args)), library, f"solution, {where}")
        _close(ex.functions[case.func].oracle(CORRECT, *copy.deepcopy(case.args)), library, f"oracle, {where}")

