"""The attention explorer's Python side: compact state, what it stores, and its Python controls."""

import json

import numpy as np
import pytest
import traitlets
from ipywidgets.embed import dependency_state, embed_data

import vit_lessons as V
from vit_lessons import interpret
from vit_lessons.widgets import AttentionExplorer, dequantize, explorer_with_controls, quantize

from .conftest import small_config


def softmax_rows(rng, shape, sharpness=3.0):
    x = sharpness * rng.standard_normal(shape)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def images_for(cfg, n, rng):
    return rng.random((n, *cfg.image_size, cfg.channels)).astype(np.float32)


def test_quantize_round_trip_within_half_a_step(rng):
    a = softmax_rows(rng, (3, 5, 9, 9))
    q, scales = quantize(a)
    assert q.dtype == np.uint8 and q.shape == a.shape and scales.shape == (3, 5)
    np.testing.assert_allclose(scales, a.max(axis=(-2, -1)) / 255, rtol=1e-6)
    err = np.abs(dequantize(q, scales) - a)
    assert np.all(err <= scales[..., None, None] / 2 + 1e-7)
    assert q.max() == 255  # each matrix uses the whole range


def test_quantize_keeps_small_matrices_resolved(rng):
    # a near-uniform matrix (entries ~1/T) keeps ~8 bits of resolution thanks to its own scale
    a = np.full((1, 64, 64), 1 / 64) + 1e-4 * rng.random((1, 64, 64))
    q, scales = quantize(a)
    assert np.max(np.abs(dequantize(q, scales) - a)) <= scales[0] / 2 + 1e-9
    assert scales[0] < 1e-4


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError, match="matrices"):
        quantize(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        quantize(-np.ones((2, 2)))


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_from_model_stores_every_layer_and_head(pool, rng):
    cfg = small_config(pool=pool)
    params = V.init_params(cfg, seed=3)
    images = images_for(cfg, 2, rng)
    w = AttentionExplorer.from_model(params, cfg, images, class_names=["a", "b", "c"], labels=[0, 2])
    t, m = cfg.num_tokens, cfg.num_layers * cfg.num_heads + 1
    assert (w.num_images, w.height, w.width) == (2, 12, 8)
    assert w.grid == [3, 2] and w.num_prefix_tokens == (1 if pool == "cls" else 0)
    assert len(w.images) == 2 * 12 * 8 * 3 and len(w.attention) == 2 * m * t * t and len(w.scales) == 2 * m
    assert w.captions[1].endswith("true c") and w.captions[0].startswith("predicted ")

    _, attn = V.forward(params, images, cfg, return_attention=True)  # (L, N, heads, T, T)
    stored = w.matrices()  # (N, M, T, T)
    expected = attn.transpose(1, 0, 2, 3, 4).reshape(2, m - 1, t, t)
    step = np.asarray(w.scales).reshape(2, m)[:, :-1, None, None]
    assert np.all(np.abs(stored[:, :-1] - expected) <= step / 2 + 1e-6)
    np.testing.assert_array_equal(np.frombuffer(w.images, np.uint8).reshape(2, 12, 8, 3),
                                  np.rint(images * 255).astype(np.uint8))


def test_rollout_is_interpret_rollout(rng):
    cfg = small_config()
    params = V.init_params(cfg, seed=4)
    images = images_for(cfg, 3, rng)
    w = AttentionExplorer.from_model(params, cfg, images)
    _, attn = V.forward(params, images, cfg, return_attention=True)
    expected = interpret.rollout(attn, head_fusion="mean")  # (N, T, T)
    m = cfg.num_layers * cfg.num_heads + 1
    step = np.asarray(w.scales).reshape(3, m)[:, -1, None, None]
    assert np.all(np.abs(w.matrices()[:, -1] - expected) <= step / 2 + 1e-6)
    # rows of a product of row-stochastic matrices sum to 1, up to T half-steps of quantisation
    assert np.all(np.abs(w.matrices()[:, -1].sum(-1) - 1.0) <= cfg.num_tokens * step[..., 0] / 2 + 1e-6)


def test_state_size_of_the_tiny_model_on_four_images(rng):
    cfg = V.preset("tiny")
    w = AttentionExplorer.from_model(V.init_params(cfg, seed=0), cfg, images_for(cfg, 4, rng))
    state = dependency_state([w], drop_defaults=False)  # this widget and its layout, not every live widget
    embedded = len(json.dumps(embed_data(views=[w], state=state, drop_defaults=False)["manager_state"]))
    # the estimate matches what an embedding really writes, and stays far below a 2 MB page
    assert abs(w.state_nbytes() - embedded) < 0.02 * embedded
    assert embedded < 400_000, embedded


def test_state_budget_is_enforced(rng):
    cfg = V.preset("tiny")
    with pytest.raises(ValueError, match="max_state_bytes"):
        AttentionExplorer.from_model(V.init_params(cfg, seed=0), cfg, images_for(cfg, 4, rng), max_state_bytes=100_000)


def test_bad_arguments_name_themselves(rng):
    cfg = small_config()
    params = V.init_params(cfg, seed=0)
    with pytest.raises(ValueError, match="images"):
        AttentionExplorer.from_attention(rng.random((2, 8, 8, 3)), np.zeros((2, 2, 2, 7, 7)), cfg)
    with pytest.raises(ValueError, match="attentions"):
        AttentionExplorer.from_attention(images_for(cfg, 2, rng), np.zeros((2, 1, 2, 7, 7)), cfg)
    with pytest.raises(ValueError, match="labels"):
        AttentionExplorer.from_model(params, cfg, images_for(cfg, 2, rng), labels=[0])
    with pytest.raises(ValueError, match="class_names"):
        AttentionExplorer.from_model(params, cfg, images_for(cfg, 2, rng), class_names=["a"])


def test_view_traits_are_checked():
    with pytest.raises(traitlets.TraitError, match="mode"):
        AttentionExplorer(mode="heads")
    with pytest.raises(traitlets.TraitError, match="opacity"):
        AttentionExplorer(opacity=1.5)


def test_view_traits_survive_a_smaller_model(rng):
    big, small = small_config(num_layers=3, num_heads=4), small_config(num_layers=1, num_heads=2)
    w = AttentionExplorer.from_model(V.init_params(big, seed=0), big, images_for(big, 3, rng),
                                     layer=2, head=3, image_index=2, query=5)
    w.update_from_model(V.init_params(small, seed=0), small, images_for(small, 1, rng))
    assert (w.layer, w.head, w.image_index, w.query) == (0, 1, 0, 5)


def test_python_controls_recompute_the_explorer(rng):
    cls_cfg, mean_cfg = small_config(), small_config(pool="mean")
    models = {"cls": (cls_cfg, V.init_params(cls_cfg, seed=0)), "mean": (mean_cfg, V.init_params(mean_cfg, seed=1))}
    box = explorer_with_controls(models, images_for(cls_cfg, 5, rng), labels=[0, 1, 2, 0, 1], per_view=2)
    controls, explorer = box.children[0], box.children[-1]
    choose, first, button = controls.children
    assert isinstance(explorer, AttentionExplorer) and explorer.num_prefix_tokens == 1
    assert explorer.image_names == ["#0", "#1"]
    choose.value = "mean"  # the dropdown's callback recomputes
    assert explorer.num_prefix_tokens == 0
    first.value = 3
    button.click()
    assert explorer.image_names == ["#3", "#4"] and explorer.captions[1].endswith("true class 1")
    with pytest.raises(ValueError, match="per_view"):
        explorer_with_controls(models, images_for(cls_cfg, 2, rng), per_view=3)
