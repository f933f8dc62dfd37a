"""Fine-tuning: the position-resize conventions against scipy and torch, the zero head, the new resolution,
SGD with global-norm clipping, frozen parameters, starting from given parameters."""

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

import vit_lessons as V
from vit_lessons import finetune as FT
from vit_lessons.data import make_shapes
from vit_lessons.embedding import RESIZE_CONVENTIONS
from vit_lessons.train import shapes_config, train

TINY = dict(image_size=16, patch_size=4, d_model=16, num_heads=2, d_ff=32, num_layers=1)
GRIDS = [((8, 8), (12, 12)), ((8, 8), (16, 16)), ((8, 8), (5, 5)), ((7, 5), (16, 3)), ((3, 4), (1, 9)),
         ((2, 2), (17, 11)), ((6, 6), (6, 6)), ((1, 1), (4, 4)), ((14, 14), (24, 24)), ((24, 24), (7, 10))]


def reference(grid: np.ndarray, new_grid, convention: str) -> np.ndarray:
    """The libraries' own resize of a (gh, gw, D) grid: scipy's zoom for the official code, torch's
    interpolate for the others."""
    (gh, gw, _), (nh, nw) = grid.shape, new_grid
    if convention == "official":
        return scipy.ndimage.zoom(grid, (nh / gh, nw / gw, 1), order=1)
    x = torch.from_numpy(grid).permute(2, 0, 1)[None]
    if convention == "timm":
        y = F.interpolate(x, size=new_grid, mode="bicubic", antialias=True)
    else:
        y = F.interpolate(x, size=new_grid, mode="bilinear", align_corners=False)
    return y[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("convention", sorted(RESIZE_CONVENTIONS))
@pytest.mark.parametrize("old_grid,new_grid", GRIDS)
def test_each_convention_equals_its_library_on_random_grids(convention, old_grid, new_grid):
    rng = np.random.default_rng(old_grid[0] * 100 + new_grid[1])
    D, prefix = 6, 1
    pos = rng.standard_normal((prefix + old_grid[0] * old_grid[1], D))
    out = V.resize_pos_embed(pos, old_grid, new_grid, prefix, convention=convention)
    expected = reference(pos[prefix:].reshape(*old_grid, D), new_grid, convention)
    assert expected.shape == (*new_grid, D)
    np.testing.assert_allclose(out[prefix:], expected.reshape(-1, D), atol=1e-12)
    np.testing.assert_array_equal(out[:prefix], pos[:prefix])
    if convention == "official":    # scipy's zoom(order=1) is PyTorch's bilinear with the corners aligned
        x = torch.from_numpy(pos[prefix:].reshape(*old_grid, D)).permute(2, 0, 1)[None]
        aligned = F.interpolate(x, size=new_grid, mode="bilinear", align_corners=True)[0].permute(1, 2, 0)
        np.testing.assert_allclose(out[prefix:], aligned.reshape(-1, D).numpy(), atol=1e-12)
    # torch float32 in, torch out, differentiable
    t = torch.tensor(pos, dtype=torch.float32, requires_grad=True)
    out_t = V.resize_pos_embed(t, old_grid, new_grid, prefix, convention=convention)
    out_t.sum().backward()
    np.testing.assert_allclose(out_t.detach().numpy(), out, atol=1e-5)
    assert t.grad is not None


def test_the_conventions_differ_and_agree_where_they_should():
    rng = np.random.default_rng(0)
    pos = rng.standard_normal((64, 4))
    same = {c: V.resize_pos_embed(pos, (8, 8), (8, 8), convention=c) for c in RESIZE_CONVENTIONS}
    for c, out in same.items():
        np.testing.assert_allclose(out, pos, atol=1e-12, err_msg=c)          # no resize: the identity
    up = {c: V.resize_pos_embed(pos, (8, 8), (12, 12), convention=c) for c in RESIZE_CONVENTIONS}
    assert np.abs(up["official"] - up["bilinear"]).max() > 0.1 and np.abs(up["timm"] - up["bilinear"]).max() > 0.1
    # only the official convention keeps the corner positions exactly
    corners = [0, 7, 56, 63], [0, 11, 132, 143]
    np.testing.assert_allclose(up["official"][corners[1]], pos[corners[0]], atol=1e-12)


def test_resize_rejects_a_wrong_convention_or_row_count():
    with pytest.raises(ValueError, match="convention='bicubic'.*official"):
        V.resize_pos_embed(np.zeros((16, 2)), (4, 4), (6, 6), convention="bicubic")
    with pytest.raises(ValueError, match="17 rows"):
        V.resize_pos_embed(np.zeros((17, 2)), (4, 4), (6, 6))


@pytest.fixture(scope="module")
def pretrained():
    cfg = shapes_config("cls", **TINY)
    return cfg, train(cfg, steps=30, batch_size=32, lr=1e-2, warmup=5, data=make_shapes(640, 11, image_size=16),
                      threads=1, progress=False).params


def test_a_zero_head_gives_zero_logits_and_changes_nothing_else(pretrained):
    cfg, params = pretrained
    before = {k: v.copy() for k, v in params.items()}
    cfg3, params3 = FT.new_head(cfg, params, 3)
    assert cfg3.num_classes == 3 and params3["head.weight"].shape == (3, cfg.d_model)
    images = make_shapes(20, 3, image_size=16).images
    np.testing.assert_array_equal(V.forward(params3, images, cfg3), np.zeros((20, 3), np.float32))
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])                  # the input is not changed
        if k not in FT.HEAD:
            np.testing.assert_array_equal(params3[k], params[k])
    with pytest.raises(ValueError, match="num_classes=0"):
        FT.new_head(cfg, params, 0)


@pytest.mark.parametrize("convention", sorted(RESIZE_CONVENTIONS))
def test_at_resolution_more_tokens_same_patch(pretrained, convention):
    cfg, params = pretrained
    cfg24, params24 = FT.at_resolution(cfg, params, 24, convention=convention)
    assert cfg24.patch_size == cfg.patch_size and cfg24.grid_size == (6, 6) and cfg24.num_tokens == 37
    np.testing.assert_array_equal(params24["pos_embed"][0], params["pos_embed"][0])   # the CLS row
    expected = V.resize_pos_embed(params["pos_embed"], (4, 4), (6, 6), 1, convention=convention)
    np.testing.assert_allclose(params24["pos_embed"], expected, atol=1e-6)
    logits = V.forward(params24, make_shapes(8, 1, image_size=24).images, cfg24)
    assert logits.shape == (8, cfg.num_classes) and np.isfinite(logits).all()
    with pytest.raises(ValueError, match="image_size=2"):
        FT.at_resolution(cfg, params, 2)


def test_clipping_bounds_the_global_norm_of_the_step(pretrained):
    """One plain SGD step (no momentum, no decay, rate 1): the update is minus the clipped gradient."""
    cfg, params = pretrained
    data = make_shapes(64, 5, image_size=16)
    names = set(params) - {"patch_embed.weight", "patch_embed.bias"}      # no standardisation to fold
    kwargs = dict(steps=1, batch_size=64, lr=1.0, warmup=0, weight_decay=0.0, optimizer="sgd", momentum=0.0,
                  data=data, init=params, trainable=names, progress=False, threads=1)
    free = train(cfg, **kwargs)
    norm = free.history["grad_norm"][0]

    def step_norm(result):
        return float(np.sqrt(sum(((result.params[k] - params[k]).astype(np.float64) ** 2).sum() for k in names)))

    assert step_norm(free) == pytest.approx(norm, rel=1e-4)
    for clip in (norm / 10, norm / 2):
        clipped = train(cfg, clip_norm=clip, **kwargs)
        assert clipped.history["grad_norm"][0] == pytest.approx(norm, rel=1e-6)   # recorded before clipping
        assert step_norm(clipped) == pytest.approx(clip, rel=1e-4)
    assert step_norm(train(cfg, clip_norm=10 * norm, **kwargs)) == pytest.approx(norm, rel=1e-4)
    with pytest.raises(ValueError, match="clip_norm=0"):
        train(cfg, **dict(kwargs, clip_norm=0))


def test_a_linear_probe_leaves_every_other_parameter_bit_for_bit(pretrained):
    cfg, params = pretrained
    cfg5, params5 = FT.new_head(cfg, params, cfg.num_classes)
    result = FT.finetune(cfg5, params5, make_shapes(256, 6, image_size=16), linear_probe=True, steps=5,
                         batch_size=32, progress=False)
    for k in params5:
        if k in FT.HEAD:
            assert np.abs(result.params[k] - params5[k]).max() > 1e-3, k
        else:
            np.testing.assert_array_equal(result.params[k], params5[k], err_msg=k)


def test_fine_tuning_everything_moves_every_parameter_and_starts_where_init_is(pretrained):
    cfg, params = pretrained
    data = make_shapes(256, 6, image_size=16)
    moved = FT.finetune(cfg, params, data, steps=5, batch_size=32, progress=False)
    assert all(np.abs(moved.params[k] - params[k]).max() > 0 for k in params)
    # at rate 0 nothing moves: the standardisation unfolded from init and folded back is the identity
    still = FT.finetune(cfg, params, data, steps=3, batch_size=32, warmup=1, lr=0.0, progress=False)
    for k in params:
        np.testing.assert_allclose(still.params[k], params[k], atol=2e-5, err_msg=k)
    # the first training loss is the pre-trained model's loss on the first batch (seed 0 orders the batches):
    # the model trained on standardised images is the given one, not a re-initialised one
    first = np.random.default_rng(0).permutation(len(data))[:32]
    logits = V.forward(params, data.images[first], cfg)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(data.labels[first]))
    assert still.history["loss"][0] == pytest.approx(expected.item(), abs=1e-4)


def test_train_rejects_bad_init_trainable_and_optimizer(pretrained):
    cfg, params = pretrained
    data = make_shapes(32, 1, image_size=16)
    kwargs = dict(steps=1, batch_size=8, warmup=0, data=data, progress=False)
    with pytest.raises(ValueError, match="head.weight"):
        train(cfg, init={k: v for k, v in params.items() if k != "head.weight"}, **kwargs)
    with pytest.raises(ValueError, match="trainable=\\['nope'\\]"):
        train(cfg, init=params, trainable={"nope"}, **kwargs)
    with pytest.raises(ValueError, match="trainable=\\[\\]"):
        train(cfg, init=params, trainable=set(), **kwargs)
    with pytest.raises(ValueError, match="optimizer='adam'"):
        train(cfg, optimizer="adam", **kwargs)
    with pytest.raises(ValueError, match="'momentun'"):
        FT.finetune(cfg, params, data, momentun=0.5)


def test_scratch_and_finetune_share_the_budget(pretrained):
    cfg, params = pretrained
    data = make_shapes(128, 2, image_size=16)
    a = FT.scratch(cfg, data, steps=4, batch_size=16, warmup=1, progress=False)
    b = FT.finetune(cfg, params, data, steps=4, batch_size=16, warmup=1, progress=False)
    assert len(a.history["loss"]) == len(b.history["loss"]) == 4


def test_relabel_groups_the_classes():
    d = make_shapes(100, 1)
    groups = {"round": ("disc", "ring"), "angular": ("square", "triangle", "cross")}
    r = FT.relabel(d, groups)
    assert r.class_names == ("round", "angular") and r.images is d.images
    names = np.array(d.class_names)[d.labels]
    np.testing.assert_array_equal(r.labels, np.isin(names, groups["angular"]).astype(np.int64))
    with pytest.raises(ValueError, match="exactly one group"):
        FT.relabel(d, {"round": ("disc", "ring"), "angular": ("square", "triangle")})
    with pytest.raises(ValueError, match="exactly one group"):
        FT.relabel(d, {"a": ("disc", "ring", "square"), "b": ("square", "triangle", "cross")})


@pytest.mark.parametrize("change, message", [
    (dict(lr="high"), "lr='high': expected a number >= 0.0"),
    (dict(lr=-0.1), "lr=-0.1: expected a number >= 0.0"),
    (dict(lr=float("nan")), "lr=nan: expected a number >= 0.0"),
    (dict(momentum=-0.5), r"momentum=-0.5: expected a number in \[0.0, 1.0\)"),
    (dict(momentum=1.5), r"momentum=1.5: expected a number in \[0.0, 1.0\)"),
    (dict(momentum=1.0), r"momentum=1.0: expected a number in \[0.0, 1.0\)"),
    (dict(clip_norm=-1.0), "clip_norm=-1.0: expected a number > 0.0"),
    (dict(weight_decay=-1.0), "weight_decay=-1.0: expected a number >= 0.0"),
    (dict(steps=0), "steps=0: expected a positive int"),
    (dict(batch_size=2.5), "batch_size=2.5: expected a positive int, got float"),
    (dict(warmup=-1), r"warmup=-1: expected an int in \[0, 40\]"),
])
def test_finetune_names_a_bad_setting_before_it_trains(change, message):
    cfg = shapes_config("cls", **TINY)
    with pytest.raises(ValueError, match=message):
        FT.finetune(cfg, V.init_params(cfg, 0), make_shapes(8, 0, image_size=16), progress=False, **change)


def test_finetune_and_relabel_say_what_the_data_must_be():
    cfg = shapes_config("cls", **TINY)
    params, data = V.init_params(cfg, 0), make_shapes(8, 0, image_size=16)
    for call in (lambda: FT.finetune(cfg, params, data.images, steps=1, batch_size=4, warmup=0, progress=False),
                 lambda: FT.relabel(data.images, {"a": ("disc",)})):
        with pytest.raises(ValueError, match=r"data is a ndarray: expected a Shapes \(images, labels, masks, "
                                             r"class_names\), e.g. vit_lessons.make_shapes\(n, seed\)"):
            call()
    with pytest.raises(ValueError, match=r"data.images has shape \(8, 32, 32, 3\): expected \(N, 16, 16, 3\)"):
        FT.finetune(cfg, params, make_shapes(8, 0), steps=1, batch_size=4, warmup=0, progress=False)
    with pytest.raises(ValueError, match=r"groups is a list: expected a dict of group name -> the class names"):
        FT.relabel(data, ["disc"])
