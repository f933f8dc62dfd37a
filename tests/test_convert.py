"""Chapter 11's name mappings: timm and torchvision (Hugging Face is compared in test_model.py)."""

import numpy as np
import pytest
import torch

import vit_lessons as V
from vit_lessons.convert import (
    TABLES,
    from_timm_vit,
    from_torchvision_vit,
    to_state_dict,
    to_timm_vit,
    to_torchvision_vit,
)

from .conftest import small_config


@pytest.mark.parametrize("to, back, pool", [(to_timm_vit, from_timm_vit, "cls"), (to_timm_vit, from_timm_vit, "mean"),
                                             (to_torchvision_vit, from_torchvision_vit, "cls")])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_round_trip_is_exact(to, back, pool, kind):
    cfg = small_config(pool)
    params = V.init_params(cfg, 3)
    if kind == "torch":
        params = V.to_torch(params)
    theirs = to(params, cfg)
    again = back(theirs, cfg)
    assert list(again) == list(params)
    for k in params:
        assert np.array_equal(np.asarray(again[k]), np.asarray(params[k])), k


def test_timm_layout():
    cfg = small_config("cls")
    params = V.init_params(cfg, 0)
    sd = to_timm_vit(params, cfg)
    D, T = cfg.d_model, cfg.num_tokens
    assert sd["cls_token"].shape == (1, 1, D) and sd["pos_embed"].shape == (1, T, D)
    qkv = sd["blocks.1.attn.qkv.weight"]
    assert qkv.shape == (3 * D, D)
    for j, n in enumerate("qkv"):
        np.testing.assert_array_equal(qkv[j * D:(j + 1) * D], params[f"blocks.1.attn.{n}.weight"])
        np.testing.assert_array_equal(sd["blocks.1.attn.qkv.bias"][j * D:(j + 1) * D],
                                      params[f"blocks.1.attn.{n}.bias"])
    assert len(sd) == len(params) - 4 * cfg.num_layers  # q, k, v weights and biases fused into two per block
    assert "cls_token" not in to_timm_vit(V.init_params(small_config("mean"), 0), small_config("mean"))


def test_torchvision_attention_layout_is_multihead_attention():
    """torchvision's attention is nn.MultiheadAttention: load the mapped tensors into one and compare."""
    cfg = small_config("cls")
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 4).items()}
    sd = to_torchvision_vit(params, cfg)
    prefix = "encoder.layers.encoder_layer_1.self_attention."
    mha = torch.nn.MultiheadAttention(cfg.d_model, cfg.num_heads, batch_first=True).double()
    mha.load_state_dict({k[len(prefix):]: torch.from_numpy(v) for k, v in sd.items() if k.startswith(prefix)})
    x = np.random.default_rng(0).standard_normal((5, cfg.num_tokens, cfg.d_model))
    with torch.no_grad():
        ref, ref_probs = mha(*(torch.from_numpy(x),) * 3, average_attn_weights=False)
    ours, probs = V.multi_head_attention(x, params, "blocks.1.attn.", cfg.num_heads)
    assert np.abs(ours - ref.numpy()).max() <= 1e-12 and np.abs(probs - ref_probs.numpy()).max() <= 1e-12


def test_every_table_names_every_parameter_once():
    cfg = small_config("cls")
    for library, table in TABLES.items():
        sd = {k: np.asarray(v) for k, v in to_state_dict(V.init_params(cfg, 0), table).items()}
        assert sum(v.size for v in sd.values()) == V.num_params(cfg), library


def test_missing_key_is_named():
    cfg = small_config("cls")
    sd = to_torchvision_vit(V.init_params(cfg, 0), cfg)
    del sd["heads.head.bias"]
    with pytest.raises(ValueError, match=r"no 'heads.head.bias' \(needed for our 'head.bias' from torchvision\)"):
        from_torchvision_vit(sd, cfg)
    with pytest.raises(ValueError, match="cfg.pool='mean'"):
        to_torchvision_vit({}, small_config("mean"))


def _timm_model(cfg):
    """timm's VisionTransformer matching cfg, or a skip where timm cannot be imported (it needs torchvision)."""
    try:
        from timm.models.vision_transformer import VisionTransformer
    except ImportError as error:
        pytest.skip(f"timm is not importable here: {error}")
    from functools import partial

    kwargs = dict(class_token=True, global_pool="token") if cfg.pool == "cls" else \
        dict(class_token=False, global_pool="avg", fc_norm=False)
    return VisionTransformer(img_size=cfg.image_size, patch_size=cfg.patch_size, in_chans=cfg.channels,
                             num_classes=cfg.num_classes, embed_dim=cfg.d_model, depth=cfg.num_layers,
                             num_heads=cfg.num_heads, mlp_ratio=cfg.d_ff / cfg.d_model, qkv_bias=True,
                             norm_layer=partial(torch.nn.LayerNorm, eps=cfg.ln_eps), **kwargs).double().eval()


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_timm_logits_weight_for_weight(pool, rng):
    cfg = small_config(pool)
    model = _timm_model(cfg)
    params = from_timm_vit({k: v.numpy() for k, v in model.state_dict().items()}, cfg)
    images = rng.random((2, *cfg.image_size, 3))
    with torch.no_grad():
        ref = model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    assert np.abs(V.forward(params, images, cfg) - ref).max() <= 1e-10
