"""The attention explorer's Python side: compact state, what it stores, and its Python controls."""

import json

import numpy as np
import pytest
import traitlets
from ipywidgets.embed import dependency_state, embed_data

import vit_lessons as V
from vit_lessons import interpret
from vit_lessons.widgets import AttentionExplorer, dequantize, explorer_with_controls, quantize, storage

from .conftest import small_config


def softmax_rows(rng, shape, sharpness=3.0):
    x = sharpness * rng.standard_normal(shape)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def images_for(cfg, n, rng):
    return rng.random((n, *cfg.image_size, cfg.channels)).astype(np.float32)


def code_error(q, scales):
    """The largest error of a byte of the square-root code: scale (2 byte + 1) / (2 * 255^2)."""
    return np.asarray(scales)[..., None] * (2.0 * q + 1) / (2 * 255**2) + 1e-7


def test_quantize_round_trip_per_row(rng):
    a = softmax_rows(rng, (3, 5, 9, 9))
    q, scales = quantize(a)
    assert q.dtype == np.uint8 and q.shape == a.shape and scales.shape == (3, 5, 9)
    np.testing.assert_allclose(scales, a.max(axis=-1), rtol=1e-6)
    assert np.all(np.abs(dequantize(q, scales) - a) <= code_error(q, scales))
    assert np.all(q.max(-1) == 255)  # each row uses the whole range


def test_quantize_keeps_small_weights_resolved(rng):
    # a 197-token row with one large weight: a linear byte code would round every other weight to 0 or 1
    row = np.full(197, 0.5 / 196) * (1 + 0.5 * rng.random(197))
    row[0] = 0.5
    q, scales = quantize(row)
    back = dequantize(q, scales)
    assert np.all(q[1:] >= 15) and np.max(np.abs(back[1:] - row[1:]) / row[1:]) < 0.06


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError, match="rows"):
        quantize(np.float64(3.0))
    with pytest.raises(ValueError, match="non-negative"):
        quantize(-np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        quantize(np.array([0.5, np.nan]))


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_from_model_stores_every_layer_and_head(pool, rng):
    cfg = small_config(pool=pool)
    params = V.init_params(cfg, seed=3)
    images = images_for(cfg, 2, rng)
    w = AttentionExplorer.from_model(params, cfg, images, class_names=["a", "b", "c"], labels=[0, 2])
    t, L, H = cfg.num_tokens, cfg.num_layers, cfg.num_heads
    assert storage(cfg)["head_queries"] == t and w.head_queries == t  # small: every head in full
    assert (w.num_images, w.height, w.width) == (2, 12, 8)
    assert w.grid == [3, 2] and w.num_prefix_tokens == (1 if pool == "cls" else 0)
    rows = L * H * t + t
    assert len(w.images) == 2 * 12 * 8 * 3 and len(w.attention) == 2 * rows * t and len(w.scales) == 4 * 2 * rows
    assert w.captions[1].endswith("true c") and w.captions[0].startswith("predicted ")

    _, attn = V.forward(params, images, cfg, return_attention=True)  # (L, N, heads, T, T)
    stored = w.stored()
    assert stored["means"] is None and stored["heads"].shape == (2, L, H, t, t)
    expected = attn.transpose(1, 0, 2, 3, 4)
    assert np.all(np.abs(stored["heads"] - expected) <= expected.max(-1, keepdims=True) / 254 + 1e-6)
    np.testing.assert_array_equal(np.frombuffer(w.images, np.uint8).reshape(2, 12, 8, 3),
                                  np.rint(images * 255).astype(np.uint8))


def test_rollout_is_interpret_rollout(rng):
    cfg = small_config()
    params = V.init_params(cfg, seed=4)
    images = images_for(cfg, 3, rng)
    w = AttentionExplorer.from_model(params, cfg, images)
    _, attn = V.forward(params, images, cfg, return_attention=True)
    expected = interpret.rollout(attn, head_fusion="mean")  # (N, T, T)
    stored = w.stored()["rollout"]
    assert np.all(np.abs(stored - expected) <= expected.max(-1, keepdims=True) / 254 + 1e-6)
    # rows of a product of row-stochastic matrices sum to 1, up to the code's error on each entry
    assert np.all(np.abs(stored.sum(-1) - 1.0) <= cfg.num_tokens * expected.max() / 254)


B16_ATTENTION = dict(image_size=(224, 224), patch_size=16, d_model=48, num_heads=12, d_ff=96, num_layers=12,
                     num_classes=10)


def embedded_bytes(widget) -> int:
    """What the widget really adds to a page that embeds it (ipywidgets' own embedding)."""
    state = dependency_state([widget], drop_defaults=False)  # this widget and its layout, not every live widget
    return len(json.dumps(embed_data(views=[widget], state=state, drop_defaults=False)["manager_state"]))


def test_b16_sized_state_is_under_a_megabyte_per_image(rng):
    """197 tokens, 12 layers x 12 heads (a narrow width keeps the test fast: the attention's size does not
    depend on it): each head keeps its CLS row, each layer its mean in full, and the rollout."""
    cfg = V.ViTConfig(**B16_ATTENTION)
    params = V.init_params(cfg, seed=0)
    images = images_for(cfg, 2, rng)
    layout = storage(cfg)
    assert layout == {"head_queries": 1, "heads": 144, "means": 12 * 197, "rollout": 197, "rows": 2705}
    one = AttentionExplorer.from_model(params, cfg, images[:1])
    two = AttentionExplorer.from_model(params, cfg, images)
    sizes = embedded_bytes(one), embedded_bytes(two)
    assert sizes[0] <= 1_000_000 and sizes[1] - sizes[0] <= 1_000_000, sizes
    assert abs(two.state_nbytes() - sizes[1]) < 0.02 * sizes[1]

    _, attn = V.forward(params, images, cfg, return_attention=True)  # (L, N, heads, T, T)
    stored = two.stored()
    cls_rows = attn[:, :, :, :1].transpose(1, 0, 2, 3, 4)              # (N, L, heads, 1, T)
    means = attn.mean(2).transpose(1, 0, 2, 3)                           # (N, L, T, T)
    assert stored["heads"].shape == cls_rows.shape and stored["means"].shape == means.shape
    for got, want in ((stored["heads"], cls_rows), (stored["means"], means),
                      (stored["rollout"], interpret.rollout(attn))):
        assert np.all(np.abs(got - want) <= want.max(-1, keepdims=True) / 254 + 1e-6)


def test_storage_choices(rng):
    big = V.ViTConfig(**B16_ATTENTION)
    assert storage(big, "all")["head_queries"] == 197 and storage(big, "cls")["heads"] == 144
    mean_pooled = storage(big.replace(pool="mean"))
    assert mean_pooled["head_queries"] == 0 and mean_pooled["rows"] == 12 * 196 + 196  # no CLS row to keep
    assert storage(small_config(), "cls") == {"head_queries": 1, "heads": 4, "means": 14, "rollout": 7, "rows": 25}
    with pytest.raises(ValueError, match=r"heads='some'"):
        storage(big, "some")
    with pytest.raises(ValueError, match="max_state_bytes"):  # every head in full is 7.5 MB per image
        AttentionExplorer.from_model(V.init_params(big, 0), big, images_for(big, 1, rng), heads="all")


def test_model_without_head_and_separate_pixels(rng):
    cfg = small_config(num_classes=0)
    images = images_for(cfg, 2, rng)
    shown = (255 * rng.random((2, 12, 8, 3))).astype(np.uint8)
    w = AttentionExplorer.from_model(V.init_params(cfg, 0), cfg, (images - 0.5) / 0.25, pixels=shown)
    assert w.captions == ["", ""]
    np.testing.assert_array_equal(np.frombuffer(w.images, np.uint8).reshape(shown.shape), shown)


def test_state_size_of_the_tiny_model_on_four_images(rng):
    cfg = V.preset("tiny")
    w = AttentionExplorer.from_model(V.init_params(cfg, seed=0), cfg, images_for(cfg, 4, rng))
    embedded = embedded_bytes(w)
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
