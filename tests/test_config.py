import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vit_lessons as V


def test_presets_param_counts_are_exact():
    assert V.num_params(V.preset("ViT-B/16")) == 86_567_656
    assert V.num_params(V.preset("ViT-L/16")) == 304_326_632
    assert V.num_params(V.preset("ViT-H/14")) == 632_045_800


def test_presets_follow_table_1():
    for name, (d, layers, heads, mlp, patch) in {"ViT-B/16": (768, 12, 12, 3072, 16),
                                                 "ViT-L/16": (1024, 24, 16, 4096, 16),
                                                 "ViT-H/14": (1280, 32, 16, 5120, 14)}.items():
        c = V.preset(name)
        assert (c.d_model, c.num_layers, c.num_heads, c.d_ff, c.patch_size) == (d, layers, heads, mlp, patch)
        assert c.image_size == (224, 224) and c.num_classes == 1000


def test_flops_b16():
    assert round(V.flops(V.preset("ViT-B/16")) / 1e9, 2) == 17.56


def test_num_params_matches_shapes_of_init():
    cfg = V.preset("tiny")
    assert V.num_params(cfg) == sum(v.size for v in V.init_params(cfg, 0).values())
    mean_cfg = cfg.replace(pool="mean")
    assert V.num_params(cfg) - V.num_params(mean_cfg) == 2 * cfg.d_model  # the CLS token and its position


def test_derived_shapes():
    c = V.ViTConfig(image_size=(224, 160), patch_size=16, d_model=64, num_heads=4, d_ff=128, num_layers=1,
                    num_classes=10)
    assert c.stride == 16 and c.grid_size == (14, 10) and c.num_patches == 140
    assert c.num_tokens == 141 and c.head_dim == 16 and c.patch_dim == 768
    assert c.replace(pool="mean").num_tokens == 140
    o = c.replace(stride=8, padding=4)
    assert o.grid_size == ((224 + 8 - 16) // 8 + 1, (160 + 8 - 16) // 8 + 1)


def test_replace_patch_size_keeps_patches_non_overlapping():
    c = V.preset("ViT-B/16").replace(patch_size=8)
    assert c.stride == 8 and c.num_patches == 28 * 28
    overlapping = V.preset("ViT-B/16").replace(stride=8)
    assert overlapping.replace(patch_size=12).stride == 8
    with pytest.raises(ValueError, match="not a multiple of patch_size=12"):
        V.preset("ViT-B/16").replace(patch_size=12)


def test_int_image_size_means_square():
    assert V.ViTConfig(image_size=32, patch_size=4, d_model=8, num_heads=2, d_ff=8, num_layers=1,
                       num_classes=2).image_size == (32, 32)


def test_round_trip_dict():
    c = V.preset("tiny", pool="mean")
    assert V.ViTConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="not fields"):
        V.ViTConfig.from_dict({**c.to_dict(), "bogus": 1})


GOOD = dict(image_size=(32, 32), patch_size=4, d_model=8, num_heads=2, d_ff=16, num_layers=1, num_classes=3)


@pytest.mark.parametrize("change, pattern", [
    (dict(d_model=10, num_heads=4), r"d_model=10 is not divisible by num_heads=4"),
    (dict(patch_size=0), r"patch_size=0"),
    (dict(num_layers=-1), r"num_layers=-1"),
    (dict(num_classes=2.5), r"num_classes=2.5"),
    (dict(channels=True), r"channels=True"),
    (dict(pool="max"), r"pool='max'"),
    (dict(ln_eps=0.0), r"ln_eps=0.0"),
    (dict(image_size=(30, 32)), r"drop the last 2 pixel rows \(H=30\).*resize"),
    (dict(image_size=(32, 35)), r"3 pixel columns \(W=35\)"),
    (dict(patch_size=40, stride=40), r"patch_size=40 is larger than the padded image"),
    (dict(padding=-1, stride=2), r"padding=-1"),
    (dict(padding=4, stride=2), r"padding=4"),
    (dict(image_size=(32,)), r"image_size=\(32,\)"),
])
def test_invalid_configs_name_the_field(change, pattern):
    with pytest.raises(ValueError, match=pattern):
        V.ViTConfig(**{**GOOD, **change})


def test_overlapping_patches_need_not_divide():
    c = V.ViTConfig(**{**GOOD, "image_size": (30, 31), "stride": 2})
    assert c.grid_size == (14, 14)


def test_an_unknown_field_is_named_by_replace_preset_and_from_dict():
    for call in (lambda: V.preset("tiny", foo=1), lambda: V.preset("tiny").replace(foo=1),
                 lambda: V.ViTConfig.from_dict({**V.preset("tiny").to_dict(), "foo": 1})):
        with pytest.raises(ValueError, match=r"config keys \['foo'\]: not fields of ViTConfig \(expected some of "):
            call()
    with pytest.raises(ValueError, match=r"d is a list: expected a dict; got \[1, 2\]"):
        V.ViTConfig.from_dict([1, 2])


def test_unknown_preset():
    with pytest.raises(ValueError, match="name='ViT-X'"):
        V.preset("ViT-X")


ints = st.one_of(st.integers(-3, 40), st.floats(-2, 40), st.none(), st.booleans(), st.text(max_size=2))


@settings(max_examples=300, deadline=None)
@given(H=ints, W=ints, P=ints, s=st.one_of(st.none(), ints), pad=ints, D=ints, heads=ints, F=ints, L=ints,
       K=ints, C=ints, pool=st.sampled_from(["cls", "mean", "avg", ""]))
def test_any_config_is_valid_or_a_value_error(H, W, P, s, pad, D, heads, F, L, K, C, pool):
    """Property: construction either succeeds with consistent shapes or raises ValueError, never anything else."""
    try:
        c = V.ViTConfig(image_size=(H, W), patch_size=P, stride=s, padding=pad, d_model=D, num_heads=heads,
                        d_ff=F, num_layers=L, num_classes=K, channels=C, pool=pool)
    except ValueError as e:
        assert str(e)
        return
    gh, gw = c.grid_size
    assert gh >= 1 and gw >= 1 and c.head_dim * c.num_heads == c.d_model
    assert V.num_params(c) > 0
    assert math.prod(c.grid_size) == c.num_patches
