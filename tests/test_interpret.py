"""Attention capture, rollout, gradient rollout, DINO masks and the faithfulness scores."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import vit_lessons as V
import vit_lessons.attention as attention_module
from vit_lessons import interpret as I

from .conftest import small_config

# A CLS model with a 1 x 2 patch grid: T = 3 tokens, the size of the hand-computed cases.
CFG3 = V.ViTConfig(image_size=(4, 8), patch_size=4, d_model=4, num_heads=1, d_ff=8, num_layers=2, num_classes=2)


def _batch(cfg, n, seed=0):
    H, W = cfg.image_size
    return np.random.default_rng(seed).random((n, H, W, cfg.channels)).astype(np.float32)


# ---- rollout -------------------------------------------------------------------------------------
def test_rollout_two_layers_by_hand():
    A1 = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    A2 = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # A_hat1 = 0.5 A1 + 0.5 I = [[.75, .125, .125], [0, 1, 0], [.25, 0, .75]]
    # A_hat2 = 0.5 A2 + 0.5 I = [[.5, .25, .25], [.5, .5, 0], [0, 0, 1]]
    # R = A_hat2 A_hat1, row 0 = .5 [.75, .125, .125] + .25 [0, 1, 0] + .25 [.25, 0, .75]
    expected = np.array([[0.4375, 0.3125, 0.25], [0.375, 0.5625, 0.0625], [0.25, 0.0, 0.75]])
    att = np.stack([A1, A2])[:, None]  # (L, heads=1, T, T)
    R = I.rollout(att)
    np.testing.assert_allclose(R, expected, atol=1e-12)
    # earlier layer on the left would give row 0 = [.4375, .25, .3125]
    assert not np.allclose(R, I.rollout(att[::-1]))
    np.testing.assert_allclose(I.token_map(R, CFG3), [[0.3125, 0.25]], atol=1e-12)
    np.testing.assert_allclose(I.rollout([A1[None], A2[None]]), expected, atol=1e-12)  # a list of layers


def test_rollout_head_fusion_by_hand():
    heads = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])[None]  # (L=1, heads=2, 2, 2)
    # mean [[.5, .5], [.5, .5]] -> A_hat [[.75, .25], [.25, .75]]
    np.testing.assert_allclose(I.rollout(heads, "mean"), [[0.75, 0.25], [0.25, 0.75]], atol=1e-12)
    # max [[1, 1], [.5, .5]] -> [[1, .5], [.25, .75]], row 0 sums to 1.5 -> [[2/3, 1/3], [.25, .75]]
    np.testing.assert_allclose(I.rollout(heads, "max"), [[2 / 3, 1 / 3], [0.25, 0.75]], atol=1e-12)
    # min [[0, 0], [.5, .5]] -> [[.5, 0], [.25, .75]] -> [[1, 0], [.25, .75]]
    np.testing.assert_allclose(I.rollout(heads, "min"), [[1.0, 0.0], [0.25, 0.75]], atol=1e-12)
    with pytest.raises(ValueError, match="head_fusion='median'"):
        I.rollout(heads, "median")


def test_discard_ratio_by_hand():
    A = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.25, 0.35, 0.4]], dtype=np.float32)
    # 6 off-diagonal entries, ratio 0.5 -> the 3 lowest go: 0.1 (1,0), 0.25 (2,0), and of the two
    # 0.3s the first in row-major order, (0,1).  The diagonal stays.
    kept = np.array([[0.2, 0.0, 0.5], [0.0, 0.6, 0.3], [0.0, 0.35, 0.4]], dtype=np.float32)
    np.testing.assert_array_equal(I.discard_lowest(A, 0.5), kept)
    # A_hat = [[.6, 0, .25], [0, .8, .15], [0, .175, .7]], rows re-normalised by their own sums
    expected = np.array([[0.6 / 0.85, 0, 0.25 / 0.85], [0, 0.8 / 0.95, 0.15 / 0.95], [0, 0.2, 0.8]])
    np.testing.assert_allclose(I.rollout(A[None, None], discard_ratio=0.5), expected, atol=1e-6)
    np.testing.assert_array_equal(I.discard_lowest(A, 0.0), A)
    np.testing.assert_array_equal(I.discard_lowest(A, 1.0), np.diag(np.diag(A)))  # only the diagonal is kept
    with pytest.raises(ValueError, match="discard_ratio=1.5"):
        I.rollout(A[None, None], discard_ratio=1.5)


def test_rollout_rows_sum_to_one(rng):
    a = rng.random((4, 3, 2, 7, 7))  # (L, B, heads, T, T), rows not normalised on purpose for max/min
    a /= a.sum(-1, keepdims=True)
    for fusion in I.HEAD_FUSIONS:
        for ratio in (0.0, 0.3, 0.9):
            R = I.rollout(a, fusion, ratio)
            assert R.shape == (3, 7, 7)
            np.testing.assert_allclose(R.sum(-1), 1.0, atol=1e-12)
            assert (R >= 0).all()


def test_identity_and_uniform_attention():
    cfg = small_config()  # 12 x 8 image, patch 4: grid 3 x 2, T = 7
    T, L = cfg.num_tokens, 3
    eye = np.broadcast_to(np.eye(T), (L, 2, T, T))
    np.testing.assert_allclose(I.rollout(eye), np.eye(T))  # nothing mixes
    np.testing.assert_allclose(I.token_map(I.rollout(eye), cfg), np.zeros((3, 2)))  # the CLS token keeps itself
    mean_cfg = small_config(pool="mean")
    eye6 = np.broadcast_to(np.eye(6), (L, 2, 6, 6))
    np.testing.assert_allclose(I.token_map(I.rollout(eye6), mean_cfg), np.full((3, 2), 1 / 6))  # uniform
    flat = np.full((L, 2, T, T), 1 / T)
    m = I.token_map(I.rollout(flat), cfg)
    np.testing.assert_allclose(m, np.full((3, 2), m[0, 0]), atol=1e-12)  # uniform map
    assert m[0, 0] > 0


def test_token_map_non_square_grid_and_mean_pool():
    cfg = small_config(image_size=(8, 12))  # grid (2, 3): 6 patches, not a square number
    assert cfg.grid_size == (2, 3)
    M = np.zeros((7, 7))
    M[0] = [9, 1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(I.token_map(M, cfg), [[1, 2, 3], [4, 5, 6]])
    mean_cfg = small_config(image_size=(8, 12), pool="mean")
    M6 = np.arange(36.0).reshape(6, 6)  # column j holds j, j+6, ..., j+30: mean j + 15
    np.testing.assert_array_equal(I.token_map(M6, mean_cfg), [[15, 16, 17], [18, 19, 20]])
    np.testing.assert_array_equal(I.token_map(np.stack([M, 2 * M]), cfg)[1], [[2, 4, 6], [8, 10, 12]])
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 7, 7\)"):
        I.token_map(M6, cfg)


def test_cls_attention_picks_layer_and_head(rng):
    cfg = small_config()
    a = rng.random((2, 2, 7, 7))  # (L, heads, T, T)
    np.testing.assert_array_equal(I.cls_attention(a, cfg, layer=0, head=1), a[0, 1, 0, 1:].reshape(3, 2))
    np.testing.assert_allclose(I.cls_attention(a, cfg), a[-1].mean(0)[0, 1:].reshape(3, 2))
    with pytest.raises(ValueError, match="layer=2"):
        I.cls_attention(a, cfg, layer=2)
    with pytest.raises(ValueError, match="head=5"):
        I.cls_attention(a, cfg, head=5)


def test_numpy_and_torch_agree():
    cfg = small_config()
    params = V.init_params(cfg, seed=3)
    images = _batch(cfg, 2)
    a = I.capture_attention(params, images, cfg)
    assert a.shape == (2, 2, 2, 7, 7) and isinstance(a, np.ndarray)
    np.testing.assert_allclose(I.capture_attention(params, images[0], cfg), a[:, 0], atol=1e-6)
    at = torch.from_numpy(a)
    for fusion, ratio in (("mean", 0.0), ("max", 0.4), ("min", 0.2)):
        r_np, r_t = I.rollout(a, fusion, ratio), I.rollout(at, fusion, ratio)
        assert isinstance(r_t, torch.Tensor)
        np.testing.assert_allclose(r_t.numpy(), r_np, atol=1e-6)
        np.testing.assert_array_equal(I.dino_mask(I.token_map(r_t, cfg)).numpy(), I.dino_mask(I.token_map(r_np, cfg)))
    np.testing.assert_allclose(I.cls_attention(at, cfg).numpy(), I.cls_attention(a, cfg), atol=1e-7)
    cos = I.pos_embed_cosine(params["pos_embed"], cfg)
    np.testing.assert_allclose(I.pos_embed_cosine(torch.from_numpy(params["pos_embed"]), cfg).numpy(), cos, atol=1e-6)


# ---- gradient rollout ----------------------------------------------------------------------------
def test_attention_gradients_match_forward():
    cfg = small_config()
    params, images = V.init_params(cfg, seed=5), _batch(cfg, 3)
    logits, a, g = I.attention_gradients(params, images, cfg)
    ref_logits, ref_a = V.forward(params, images, cfg, return_attention=True)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
    np.testing.assert_allclose(a, ref_a, atol=1e-6)
    assert g.shape == a.shape and np.abs(g).max() > 0


def _logit_with_attention_nudged(monkeypatch, params, image, cfg, layer, delta, target):
    """The target logit of V.forward with delta added to the attention probabilities of block ``layer``."""
    real, calls = attention_module.scaled_dot_product_attention, []

    def nudged(q, k, v):
        out, probs = real(q, k, v)
        if len(calls) == layer:
            probs = probs + delta
            out = probs @ v
        calls.append(layer)
        return out, probs

    with monkeypatch.context() as m:
        m.setattr(attention_module, "scaled_dot_product_attention", nudged)
        return float(V.forward(params, image, cfg)[target])


def test_gradient_of_each_layer_is_that_layers_own(monkeypatch, rng):
    """gradients[l] = d logit / d A_l, checked by central finite differences of V.forward (float64)."""
    cfg = small_config(num_layers=3)
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, seed=7).items()}
    image = _batch(cfg, 1)[0].astype(np.float64)
    target, eps = 2, 1e-5
    _, a, g = I.attention_gradients(params, image, cfg, target=target)
    assert g.dtype == np.float64
    for layer in range(cfg.num_layers):
        direction = rng.standard_normal(a.shape[1:])
        up = _logit_with_attention_nudged(monkeypatch, params, image, cfg, layer, eps * direction, target)
        down = _logit_with_attention_nudged(monkeypatch, params, image, cfg, layer, -eps * direction, target)
        finite_difference = (up - down) / (2 * eps)
        np.testing.assert_allclose(np.sum(g[layer] * direction), finite_difference, rtol=1e-5, atol=1e-8)
        others = [np.sum(g[m] * direction) for m in range(cfg.num_layers) if m != layer]
        assert all(abs(o - finite_difference) > 1e-3 * abs(finite_difference) for o in others)


def test_gradient_rollout_by_definition_and_targets():
    cfg = small_config()
    params, images = V.init_params(cfg, seed=5), _batch(cfg, 2)
    _, a, g = I.attention_gradients(params, images, cfg, target=[1, 2])
    # Chefer et al.: R = I, then R <- R + A_bar_l R for l = 1 ... L, A_bar_l = mean_heads max(A_l * grad_l, 0)
    R = np.broadcast_to(np.eye(cfg.num_tokens), (2, cfg.num_tokens, cfg.num_tokens)).copy()
    for layer in range(cfg.num_layers):
        R = R + np.clip(a[layer] * g[layer], 0, None).mean(axis=-3) @ R
    np.testing.assert_allclose(I.gradient_weighted_rollout(a, g), R, rtol=1e-5, atol=1e-7)
    got = I.gradient_rollout(params, images, cfg, target=[1, 2])
    np.testing.assert_allclose(got, I.token_map(R, cfg), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(I.gradient_rollout(params, images[1], cfg, target=2), got[1], rtol=1e-4, atol=1e-6)
    got_t = I.gradient_rollout(params, torch.from_numpy(images), cfg, target=torch.tensor([1, 2]))
    np.testing.assert_allclose(got_t.numpy(), got, rtol=1e-5, atol=1e-7)
    predicted = V.forward(params, images, cfg).argmax(-1)
    np.testing.assert_allclose(I.gradient_rollout(params, images, cfg),
                               I.gradient_rollout(params, images, cfg, target=predicted), atol=1e-6)
    with pytest.raises(ValueError, match="target=7"):
        I.gradient_rollout(params, images[0], cfg, target=7)
    with pytest.raises(ValueError, match="expected the shape of attentions"):
        I.gradient_weighted_rollout(a, g[:1])


def test_gradient_rollout_rows_do_not_sum_to_one_and_depend_on_the_logits_scale():
    """Unlike rollout, R's rows exceed one, and scaling the head (the logits) by c changes the map's shape."""
    cfg = small_config()
    params, image = V.init_params(cfg, seed=5), _batch(cfg, 1)[0]
    _, a, g = I.attention_gradients(params, image, cfg, target=1)
    R = I.gradient_weighted_rollout(a, g)
    assert np.all(R.sum(-1) > 1) and not np.allclose(R.sum(-1), R.sum(-1)[0])
    scaled = dict(params, **{k: 50.0 * params[k] for k in ("head.weight", "head.bias")})
    _, a50, g50 = I.attention_gradients(scaled, image, cfg, target=1)
    np.testing.assert_allclose(a50, a, atol=1e-6)          # the attention does not see the head
    np.testing.assert_allclose(g50, 50 * g, rtol=1e-4, atol=1e-9)  # the gradient scales with the logit
    plain, big = (I.token_map(m, cfg) for m in (R, I.gradient_weighted_rollout(a50, g50)))
    assert not np.allclose(big / big.sum(), plain / plain.sum(), rtol=1e-3)


def test_gradient_rollout_of_a_model_without_a_head_is_refused():
    cfg = small_config(num_classes=0)
    params, image = V.init_params(cfg, seed=0), _batch(cfg, 1)[0]
    with pytest.raises(ValueError, match="num_classes=0: this model has no head"):
        I.gradient_rollout(params, image, cfg)
    with pytest.raises(ValueError, match="no class logit to explain"):
        I.attention_gradients(params, image, cfg, target=0)


def test_token_map_exclude_self():
    """A mean-pooled model's map with each token's own share (the diagonal) left out; a CLS model's is unchanged."""
    cfg = small_config(image_size=(8, 12))                    # grid (2, 3), T = 7 with the CLS token
    mean_cfg = cfg.replace(pool="mean")
    M6 = np.arange(36.0).reshape(6, 6)
    expected = (M6.sum(0) - np.diag(M6)) / 6
    np.testing.assert_allclose(I.token_map(M6, mean_cfg, exclude_self=True), expected.reshape(2, 3))
    np.testing.assert_allclose(I.token_map(M6, mean_cfg), M6.mean(0).reshape(2, 3))
    # the identity (every token keeping all of itself) is flat with its diagonal, zero without it
    np.testing.assert_allclose(I.token_map(np.eye(6), mean_cfg), np.full((2, 3), 1 / 6))
    np.testing.assert_allclose(I.token_map(np.eye(6), mean_cfg, exclude_self=True), np.zeros((2, 3)))
    M7 = np.arange(49.0).reshape(7, 7)
    np.testing.assert_array_equal(I.token_map(M7, cfg, exclude_self=True), I.token_map(M7, cfg))
    np.testing.assert_allclose(I.token_map(torch.from_numpy(M6), mean_cfg, exclude_self=True).numpy(),
                               expected.reshape(2, 3))
    with pytest.raises(ValueError, match="exclude_self='yes'"):
        I.token_map(M6, mean_cfg, exclude_self="yes")


# ---- masks and scores ----------------------------------------------------------------------------
def test_dino_mask_by_hand():
    s = np.array([[0.5, 0.1], [0.3, 0.1]])
    np.testing.assert_array_equal(I.dino_mask(s, 0.6), [[True, False], [True, False]])  # .5 + .3 >= .6
    np.testing.assert_array_equal(I.dino_mask(s, 0.5), [[True, False], [False, False]])  # .5 alone
    np.testing.assert_array_equal(I.dino_mask(s, 0.85), [[True, True], [True, False]])  # tie: (0, 1) first
    np.testing.assert_array_equal(I.dino_mask(s, 1.0), np.ones((2, 2), bool))
    np.testing.assert_array_equal(I.dino_mask(10 * s, 0.6), I.dino_mask(s, 0.6))  # only shares matter
    np.testing.assert_array_equal(I.dino_mask(np.zeros((2, 3))), np.zeros((2, 3), bool))
    both = I.dino_mask(np.stack([s, s[::-1]]), 0.6)  # each map on its own
    np.testing.assert_array_equal(both[1], [[True, False], [True, False]][::-1])
    with pytest.raises(ValueError, match="non-negative"):
        I.dino_mask(-s)
    with pytest.raises(ValueError, match="fraction=0"):
        I.dino_mask(s, 0)


def test_pointing_game_and_mass_by_hand():
    s = np.array([[0.0, 1.0], [0.2, 0.3]])
    assert I.pointing_game(s, np.array([[False, True], [False, False]])) is True
    assert I.pointing_game(s, np.array([[True, False], [False, True]])) is False
    scores = np.array([[1.0, 3.0], [0.0, 4.0]])
    assert I.mass_on_object(scores, np.array([[False, True], [False, True]])) == pytest.approx(7 / 8)
    # a pixel mask (4 x 4) on a 2 x 2 grid: patches of 2 x 2 pixels; patch (0, 1) half covered
    pixels = np.zeros((4, 4), bool)
    pixels[0, 2:] = True
    assert I.pointing_game(s, pixels) is True  # 2/4 >= 0.5
    assert I.pointing_game(s, pixels, min_overlap=0.75) is False
    assert I.mass_on_object(scores, pixels) == pytest.approx(3 / 8)
    batch = I.pointing_game(np.stack([s, s[::-1]]), np.stack([pixels, pixels]))
    np.testing.assert_array_equal(batch, [True, False])
    with pytest.raises(ValueError, match="object_patches"):
        I.pointing_game(s, np.zeros((5, 4), bool))
    with pytest.raises(ValueError, match="non-negative"):
        I.mass_on_object(-scores, pixels)


def test_object_patches_follow_the_config():
    cfg = small_config(image_size=(8, 8))
    mask = np.zeros((8, 8), bool)
    mask[:3, :4] = True  # 12 of patch (0, 0)'s 16 pixels
    mask[4:, 4:6] = True  # 8 of patch (1, 1)'s 16 pixels
    np.testing.assert_allclose(I.patch_coverage(mask, cfg), [[0.75, 0.0], [0.0, 0.5]])
    np.testing.assert_array_equal(I.object_patches(mask, cfg), [[True, False], [False, True]])
    np.testing.assert_array_equal(I.object_patches(mask, cfg, 0.6), [[True, False], [False, False]])
    strided = small_config(image_size=(8, 8), stride=2)  # windows at 0, 2, 4: grid 3 x 3
    np.testing.assert_allclose(I.patch_coverage(mask, strided)[:, 0], [0.75, 0.25, 0.0])
    with pytest.raises(ValueError, match="expected bool"):
        I.patch_coverage(mask.astype(float), cfg)


def test_faithfulness_on_a_hand_made_set():
    cfg = small_config(image_size=(8, 8))
    params = V.init_params(cfg, seed=1)
    masks = np.zeros((3, 8, 8), bool)
    masks[0, :4, :4] = True  # 1 of 4 patches
    masks[1, :, :4] = True  # 2 of 4 patches
    masks[2, 0, 0] = True  # no patch half covered: left out
    data = SimpleNamespace(images=_batch(cfg, 3), labels=np.array([0, 1, 2]), masks=masks)
    result = I.faithfulness(params, cfg, data, batch_size=1)
    assert result["images"] == 2 and result["skipped"] == 1
    assert result["uniform"] == {"pointing": pytest.approx(3 / 8), "mass": pytest.approx(3 / 8)}
    a = I.capture_attention(params, data.images[:2], cfg)
    on = I.object_patches(masks[:2], cfg)
    last = I.cls_attention(a, cfg)
    assert result["cls_attention"]["pointing"] == pytest.approx(np.mean(I.pointing_game(last, on)))
    assert result["cls_attention"]["mass"] == pytest.approx(np.mean(I.mass_on_object(last, on)), abs=1e-6)
    rolled = I.token_map(I.rollout(a), cfg)
    assert result["rollout"]["mass"] == pytest.approx(np.mean(I.mass_on_object(rolled, on)), abs=1e-6)
    grad = I.gradient_rollout(params, data.images[:2], cfg, target=data.labels[:2])
    assert result["gradient_rollout"]["mass"] == pytest.approx(np.mean(I.mass_on_object(grad, on)), abs=1e-6)
    for name in ("rollout", "gradient_rollout"):  # a CLS model: leaving its own share out changes nothing
        assert result[f"{name}_without_self"] == result[name]
    assert result["accuracy"] == np.mean(V.forward(params, data.images[:2], cfg).argmax(-1) == [0, 1])
    with pytest.raises(ValueError, match="target='true'"):
        I.faithfulness(params, cfg, data, target="true")


# ---- embeddings ----------------------------------------------------------------------------------
def test_pos_embed_cosine_and_filter_components(rng):
    cfg = small_config(image_size=(8, 12))
    pos = rng.standard_normal((7, 8))
    S = I.pos_embed_cosine(pos, cfg)
    assert S.shape == (2, 3, 2, 3)
    e = pos[1:] / np.linalg.norm(pos[1:], axis=1, keepdims=True)
    np.testing.assert_allclose(S[0, 2, 1, 0], e[2] @ e[3])  # patch (0, 2) is token 3, patch (1, 0) token 4
    np.testing.assert_allclose(np.einsum("ijij->ij", S), 1.0)
    w = rng.standard_normal((16, 3, 4, 4))
    comps, ratio = I.patch_filter_components(w, n=5)
    assert comps.shape == (5, 4, 4, 3)
    flat = comps.reshape(5, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(5), atol=1e-10)
    X = V.patch_embed_matrix(w)
    X = X - X.mean(0)
    s = np.linalg.svd(X, compute_uv=False)
    np.testing.assert_allclose(ratio, s[:5] ** 2 / (s**2).sum())
    np.testing.assert_allclose(np.linalg.norm(X @ flat.T, axis=0), s[:5])  # the top directions, in order
    with pytest.raises(ValueError, match="n=49"):
        I.patch_filter_components(w, n=49)


# ---- the shipped models --------------------------------------------------------------------------
@pytest.fixture
def one_torch_thread():
    """Small batches run fastest on one thread; two threads on a busy 2-core machine run ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["shapes-cls", "shapes-mean"])
def test_trained_models_find_the_object(name, one_torch_thread):
    """The shipped checkpoints, on fresh images: attention points at the object far more often than chance.

    Measured on these 300 images (min_overlap 0.5; chance 0.127), pointing / mass:
    shapes-cls:  last layer 0.98 / 0.58, rollout 0.97 / 0.34, gradient rollout 1.00 / 0.80;
    shapes-mean: last layer 0.52 / 0.29, rollout 0.76 / 0.35, gradient rollout 0.85 / 0.13 (its plain map is
    mostly the identity's uniform 1/N, see gradient_weighted_rollout); with each token's own share left
    out, the mean-pooled model's gradient rollout puts far more of its mass on the object.  The asserts
    keep wide margins.
    """
    from vit_lessons.checkpoints import load_pretrained
    from vit_lessons.data import make_shapes

    cfg, params = load_pretrained(name)
    result = I.faithfulness(params, cfg, make_shapes(300, seed=2026, image_size=cfg.image_size[0]))
    chance = result["uniform"]["pointing"]
    assert 0.08 < chance < 0.2  # about 13% of the patches lie on the object
    assert result["images"] + result["skipped"] == 300 and result["skipped"] <= 3
    assert result["accuracy"] > 0.95
    assert result["rollout"]["pointing"] > chance + 0.4
    assert result["gradient_rollout"]["pointing"] > chance + 0.4
    assert result["cls_attention"]["pointing"] > chance + 0.2
    assert result["rollout"]["mass"] > result["uniform"]["mass"] + 0.1
    assert result["cls_attention"]["mass"] > result["uniform"]["mass"] + 0.08
    assert result["gradient_rollout_without_self"]["mass"] > result["uniform"]["mass"] + 0.15


def test_rollout_names_what_is_not_an_attention_array():
    with pytest.raises(ValueError, match=r"attentions\[0\] is an int: expected a numpy array or a torch tensor"):
        I.rollout([1, 2, 3])
    with pytest.raises(ValueError, match="attentions is a str: expected a numpy array"):
        I.rollout("abc")
    with pytest.raises(ValueError, match=r"attentions has shape \(2, 4, 5, 6\): expected \(L, ..., heads, T, T\)"):
        I.rollout(np.zeros((2, 4, 5, 6)))
