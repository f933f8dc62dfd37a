"""The book's figures: the right number of panels, and the right numbers in them.

The figures live outside pyplot (no GUI backend is involved); they are rendered with Agg.
"""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import vit_lessons as V
from vit_lessons import interpret as I
from vit_lessons import plots

from .conftest import small_config


@pytest.fixture(scope="module")
def model():
    cfg = small_config(image_size=(8, 12))  # grid 2 x 3, T = 7, 2 layers, 2 heads
    params = V.init_params(cfg, seed=11)
    image = np.random.default_rng(0).random((8, 12, 3)).astype(np.float32)
    return cfg, params, image, I.capture_attention(params, image, cfg)


def _overlay_data(ax):
    images = ax.get_images()
    assert len(images) == 2  # the picture, then the map over it
    return np.asarray(images[1].get_array())


def test_patch_grid(model):
    _, _, image, _ = model
    fig = plots.patch_grid(image, 4)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_images()[0].get_array(), image)
    assert len(ax.lines) == (2 - 1) + (3 - 1)  # the lines between 2 rows and 3 columns of patches
    assert sorted(line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1]) == [3.5, 7.5]
    numbered = plots.patch_grid(image, 4, numbers=True).axes[0]
    assert [t.get_text() for t in numbered.texts] == [str(k) for k in range(6)]
    with pytest.raises(ValueError, match="patch_size=5"):
        plots.patch_grid(image, 5)


def test_patch_strip(model):
    _, _, image, _ = model
    fig = plots.patch_strip(image, 4, n=4)
    assert len(fig.axes) == 4
    np.testing.assert_allclose(fig.axes[3].get_images()[0].get_array(), image[4:8, 0:4])  # patch 3: row 1, col 0
    assert len(plots.patch_strip(image, 4).axes) == 6
    with pytest.raises(ValueError, match="n=7"):
        plots.patch_strip(image, 4, n=7)


def test_token_matrix(model):
    _, _, image, _ = model
    fig = plots.token_matrix(image, 4, n=5)
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), V.patchify(image, 4)[:5].T)
    assert fig.axes[0].get_images()[0].get_array().shape == (48, 5)
    assert plots.token_matrix(image, 4).axes[0].get_images()[0].get_array().shape == (48, 6)
    with pytest.raises(ValueError, match="n=0"):
        plots.token_matrix(image, 4, n=0)


def test_attention_overlay(model):
    cfg, _, image, a = model
    m = I.cls_attention(a, cfg)
    fig = plots.attention_overlay(image, m, title="last layer", colorbar=True)
    ax = fig.axes[0]
    np.testing.assert_allclose(_overlay_data(ax), m)
    assert tuple(ax.get_images()[1].get_extent()) == (-0.5, 11.5, 7.5, -0.5)  # the map covers the whole image
    assert len(fig.axes) == 2  # with its colour bar
    host = Figure()
    ax2 = host.add_subplot()
    assert plots.attention_overlay(image, m, ax2) is host
    with pytest.raises(ValueError, match="expected one map"):
        plots.attention_overlay(image, m[None])


def test_attention_per_layer_head(model):
    cfg, _, image, a = model
    fig = plots.attention_per_layer_head(image, a, cfg)
    assert len(fig.axes) == cfg.num_layers * (cfg.num_heads + 1)
    cols = cfg.num_heads + 1
    np.testing.assert_allclose(_overlay_data(fig.axes[1 * cols + 0]), I.cls_attention(a, cfg, layer=1, head=0))
    np.testing.assert_allclose(_overlay_data(fig.axes[0 * cols + 2]), I.cls_attention(a, cfg, layer=0))  # mean
    with pytest.raises(ValueError, match="for one image"):
        plots.attention_per_layer_head(image, a[:, None], cfg)


def test_rollout_vs_last_layer(model):
    cfg, params, image, a = model
    fig = plots.rollout_vs_last_layer(image, a, cfg, discard_ratio=0.2)
    assert len(fig.axes) == 3
    np.testing.assert_allclose(_overlay_data(fig.axes[1]), I.cls_attention(a, cfg))
    np.testing.assert_allclose(_overlay_data(fig.axes[2]), I.token_map(I.rollout(a, discard_ratio=0.2), cfg))
    g = I.gradient_rollout(params, image, cfg)
    fig = plots.rollout_vs_last_layer(image, a, cfg, gradient_map=g)
    assert len(fig.axes) == 4
    np.testing.assert_allclose(_overlay_data(fig.axes[3]), g)


def test_pos_embed_similarity(model):
    cfg, params, _, _ = model
    fig = plots.pos_embed_similarity(params["pos_embed"], cfg)
    gh, gw = cfg.grid_size
    assert len(fig.axes) == gh * gw + 1  # the maps and one colour bar
    S = I.pos_embed_cosine(params["pos_embed"], cfg)
    for k, ax in enumerate(fig.axes[:-1]):
        i, j = divmod(k, gw)
        data = np.asarray(ax.get_images()[0].get_array())
        np.testing.assert_allclose(data, S[i, j])
        assert data[i, j] == pytest.approx(1.0, abs=1e-6)  # each patch is most like itself
        assert ax.get_images()[0].get_clim() == (-1.0, 1.0)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_patch_filter_pcs(model):
    _, params, _, _ = model
    weight = params["patch_embed.weight"]  # (8, 3, 4, 4): 8 filters, so at most 8 components
    fig = plots.patch_filter_pcs(weight, n=6, ncols=4)
    assert len(fig.axes) == 6
    comps, _ = I.patch_filter_components(weight, 6)
    data = np.asarray(fig.axes[2].get_images()[0].get_array())
    c = comps[2]
    np.testing.assert_allclose(data, (c - c.min()) / (c.max() - c.min()), atol=1e-6)
    assert data.min() == 0.0 and data.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n=9"):
        plots.patch_filter_pcs(weight, n=9)


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


@pytest.mark.parametrize("name", ["tiny", "ViT-B/16", "ViT-H/14"])
def test_concept_diagrams_read_their_numbers_from_the_config(name):
    cfg = V.preset(name)
    block = plots.encoder_block_diagram(cfg)
    text = _texts(block)
    T, D, F, k, d = cfg.num_tokens, cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.head_dim
    for expected in (f"({T}, {D})", f"{D} -> {F} -> {D}", f"{k} heads of d = {d}", f"eps = {cfg.ln_eps:g}"):
        assert expected in text, (expected, text)
    assert text.count("LayerNorm") == 2 and text.count("+") >= 2  # two sub-layers, two additions
    heads = plots.heads_diagram(cfg)
    text = _texts(heads)
    assert f"D = {D} features into {k} heads of d = D / {k} = {d}" in text
    assert f"({T}, {k} x {d})" in text and f"U_msa ({D}, {D})" in text and f"({T}, {T})" in text
    rectangles = [p for p in heads.axes[0].patches if type(p).__name__ == "Rectangle"]
    assert len(rectangles) == 3 * k  # per head: its features, its attention matrix, its output
    widths = {round(p.get_width(), 9) for p in rectangles if p.get_y() == 6.0}
    assert len(widths) == 1  # every head gets the same share of the features
    for fig in (block, heads):
        FigureCanvasAgg(fig).print_png(io.BytesIO())  # renders


def test_concept_diagrams_refuse_what_is_not_a_config():
    for draw in (plots.encoder_block_diagram, plots.heads_diagram):
        with pytest.raises(ValueError, match="cfg is a dict: expected a ViTConfig"):
            draw({"d_model": 8})
