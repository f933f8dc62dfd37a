"""Each building block against PyTorch's own implementation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vit_lessons as V

from .conftest import small_config

torch.manual_seed(0)
ATOL32 = 1e-5


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.mark.parametrize("stride, padding", [(4, 0), (2, 0), (3, 1), (2, 3)])
def test_patch_embed_equals_conv2d(rng, stride, padding):
    x = rng.random((2, 12, 10, 3)).astype(np.float32)
    w = rng.standard_normal((5, 3, 4, 4)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    ref = F.conv2d(t(x).permute(0, 3, 1, 2), t(w), t(b), stride=stride, padding=padding).flatten(2).transpose(1, 2)
    for engine in (np.asarray, t):
        out = V.patch_embed(engine(x), engine(w), engine(b), stride, padding)
        np.testing.assert_allclose(V.backend.to_numpy(out), ref.numpy(), atol=ATOL32, rtol=0)


def test_patchify_order_and_round_trip(rng):
    x = rng.random((8, 6, 2)).astype(np.float32)
    p = V.patchify(x, 2)
    assert p.shape == (12, 8)
    np.testing.assert_array_equal(p[4], x[2:4, 2:4, :].reshape(-1))  # row 1, column 1 of a 4x3 grid
    np.testing.assert_array_equal(V.unpatchify(p, 2, (4, 3), 2), x)
    np.testing.assert_array_equal(V.patchify(t(x), 2).numpy(), p)
    # patches @ E^T + b is the convolution
    w = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(V.linear(p, V.patch_embed_matrix(w)), V.patch_embed(x, w, None), atol=ATOL32)


def test_patchify_rejects_ragged_image(rng):
    with pytest.raises(ValueError, match="multiples of 4"):
        V.patchify(rng.random((10, 8, 3)), 4)
    with pytest.raises(ValueError, match=r"expected \(H, W, C\)"):
        V.patchify(rng.random((10, 8)), 2)


def test_layer_norm_and_gelu(rng):
    x = rng.standard_normal((3, 5, 16)).astype(np.float32) * 3 + 1
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    ref = F.layer_norm(t(x), (16,), t(w), t(b), eps=1e-6).numpy()
    np.testing.assert_allclose(V.layer_norm(x, w, b, 1e-6), ref, atol=ATOL32)
    np.testing.assert_allclose(V.layer_norm(t(x), t(w), t(b), 1e-6).numpy(), ref, atol=ATOL32)
    np.testing.assert_allclose(V.gelu(x), F.gelu(t(x)).numpy(), atol=ATOL32)
    assert np.abs(V.gelu(x) - F.gelu(t(x), approximate="tanh").numpy()).max() > 1e-4


def test_softmax(rng):
    x = rng.standard_normal((4, 7)) * 50
    np.testing.assert_allclose(V.softmax(x, axis=0), torch.softmax(t(x), 0).numpy(), atol=1e-12)
    np.testing.assert_allclose(V.softmax(x).sum(-1), 1.0, atol=1e-12)


def test_sdpa_equals_torch(rng):
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    ref = F.scaled_dot_product_attention(t(q), t(k), t(v)).numpy()
    out, probs = V.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out, ref, atol=ATOL32)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)


def _mha_params(rng, D, prefix="a."):
    return {f"{prefix}{n}.{p}": rng.standard_normal((D, D) if p == "weight" else (D,)).astype(np.float32) / 2
            for n in ("q", "k", "v", "proj") for p in ("weight", "bias")}


def test_mha_equals_nn_multihead_attention(rng):
    D, H = 12, 3
    p = _mha_params(rng, D)
    x = rng.standard_normal((2, 7, D)).astype(np.float32)
    m = torch.nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        m.in_proj_weight.copy_(t(np.concatenate([p[f"a.{n}.weight"] for n in "qkv"])))
        m.in_proj_bias.copy_(t(np.concatenate([p[f"a.{n}.bias"] for n in "qkv"])))
        m.out_proj.weight.copy_(t(p["a.proj.weight"]))
        m.out_proj.bias.copy_(t(p["a.proj.bias"]))
        ref, ref_probs = m(t(x), t(x), t(x), need_weights=True, average_attn_weights=False)
    out, probs = V.multi_head_attention(x, p, "a.", H)
    np.testing.assert_allclose(out, ref.numpy(), atol=ATOL32)
    np.testing.assert_allclose(probs, ref_probs.numpy(), atol=1e-6)
    out_t, _ = V.multi_head_attention(t(x), {k: t(v) for k, v in p.items()}, "a.", H)
    np.testing.assert_allclose(out_t.numpy(), ref.numpy(), atol=ATOL32)


def test_block_equals_transformer_encoder_layer(rng):
    cfg = small_config(d_model=12, num_heads=3, d_ff=20, num_layers=1)
    params = V.init_params(cfg, 3)
    layer = torch.nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
                                             batch_first=True, norm_first=True)
    b = "blocks.0."
    sd = {"self_attn.in_proj_weight": np.concatenate([params[f"{b}attn.{n}.weight"] for n in "qkv"]),
          "self_attn.in_proj_bias": np.concatenate([params[f"{b}attn.{n}.bias"] for n in "qkv"]),
          "self_attn.out_proj.weight": params[b + "attn.proj.weight"],
          "self_attn.out_proj.bias": params[b + "attn.proj.bias"],
          "linear1.weight": params[b + "mlp.fc1.weight"], "linear1.bias": params[b + "mlp.fc1.bias"],
          "linear2.weight": params[b + "mlp.fc2.weight"], "linear2.bias": params[b + "mlp.fc2.bias"],
          "norm1.weight": params[b + "norm1.weight"], "norm1.bias": params[b + "norm1.bias"],
          "norm2.weight": params[b + "norm2.weight"], "norm2.bias": params[b + "norm2.bias"]}
    layer.load_state_dict({k: t(v) for k, v in sd.items()})
    layer.eval()
    x = rng.standard_normal((2, 9, 12)).astype(np.float32)
    with torch.no_grad():
        ref = layer(t(x)).numpy()
    out, probs = V.encoder_block(x, params, 0, cfg)
    np.testing.assert_allclose(out, ref, atol=ATOL32)
    assert probs.shape == (2, 3, 9, 9)


def test_sincos_embeddings():
    pe = V.sincos_1d(np.arange(5), 8)
    assert pe.shape == (5, 8) and pe.dtype == np.float32
    np.testing.assert_allclose(pe[:, 0], np.sin(np.arange(5)), atol=1e-7)
    np.testing.assert_allclose(pe[:, 4], np.cos(np.arange(5)), atol=1e-7)
    np.testing.assert_allclose(pe[3, 1], np.sin(3 * 10000 ** (-1 / 4)), atol=1e-7)
    g = V.sincos_2d((3, 4), 16)
    assert g.shape == (12, 16)
    # tokens in the same row share the row half, tokens in the same column the column half
    np.testing.assert_array_equal(g[4, :8], g[7, :8])
    np.testing.assert_array_equal(g[1, 8:], g[9, 8:])
    with pytest.raises(ValueError, match="dim=6"):
        V.sincos_2d((2, 2), 6)


def _sincos_columns_first(gh, gw, dim, omega):
    """A 2-D table written as MAE and big_vision write theirs: the column half first, each half
    [sin, cos] of the coordinate times ``omega`` (dim/4 frequencies)."""
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    halves = [np.outer(coord.ravel(), omega) for coord in (cols, rows)]
    return np.concatenate([f(h) for h in halves for f in (np.sin, np.cos)], axis=1)


def test_sincos_2d_against_mae_and_big_vision():
    """The docstring's claims: MAE's table is this one with its halves swapped; big_vision's
    (w_k = 10000^(-k / (dim/4 - 1))) is not."""
    gh, gw, dim = 5, 7, 32
    ours = V.sincos_2d((gh, gw), dim)
    swapped = np.concatenate([ours[:, dim // 2:], ours[:, :dim // 2]], axis=1)
    k = np.arange(dim // 4)
    mae = _sincos_columns_first(gh, gw, dim, 10000.0 ** (-k / (dim // 4)))
    big_vision = _sincos_columns_first(gh, gw, dim, 10000.0 ** (-k / (dim // 4 - 1)))
    np.testing.assert_allclose(swapped, mae, atol=1e-6)
    assert np.abs(swapped - big_vision).max() > 0.01


@pytest.mark.parametrize("prefix", [0, 1])
def test_resize_pos_embed_equals_interpolate(rng, prefix):
    pe = rng.standard_normal((prefix + 3 * 4, 6)).astype(np.float32)
    out = V.resize_pos_embed(pe, (3, 4), (5, 7), prefix)
    grid = t(pe[prefix:]).reshape(1, 3, 4, 6).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, size=(5, 7), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).reshape(35, 6)
    np.testing.assert_allclose(out[prefix:], ref.numpy(), atol=1e-6)
    np.testing.assert_array_equal(out[:prefix], pe[:prefix])
    np.testing.assert_allclose(V.resize_pos_embed(t(pe), (3, 4), (5, 7), prefix).numpy(), out, atol=1e-6)
    np.testing.assert_allclose(V.resize_pos_embed(pe, (3, 4), (3, 4), prefix), pe, atol=1e-6)
    with pytest.raises(ValueError, match="pos_embed has"):
        V.resize_pos_embed(pe, (4, 4), (5, 7), prefix)


@pytest.mark.parametrize("call, pattern", [
    (lambda x: V.patchify(x, 0), "patch_size=0: expected a positive int"),
    (lambda x: V.patchify(x, 2.0), "patch_size=2.0: expected a positive int, got float"),
    (lambda x: V.patchify(x, True), "patch_size=True"),
    (lambda x: V.conv_windows(x, 2, 0), "stride=0"),
    (lambda x: V.conv_windows(x, 2, 1, -1), "padding=-1"),
    (lambda x: V.conv_windows(x, 9, 1), "kernel=9"),
    (lambda x: V.unpatchify(V.patchify(x, 2), 0, (4, 4), 3), "patch_size=0"),
    (lambda x: V.unpatchify(V.patchify(x, 2), 2, 16, 3), "grid_size=16"),
    (lambda x: V.patch_embed(x, np.zeros((4, 3, 2, 2), np.float32), None, 0), "stride=0"),
    (lambda x: V.patch_embed(x, np.zeros((4, 1, 2, 2), np.float32), None), r"weight has shape \(4, 1, 2, 2\)"),
    (lambda x: V.split_heads(np.zeros((4, 8)), 0), "num_heads=0"),
    (lambda x: V.split_heads(np.zeros((4, 8)), 3), "num_heads=3: expected a divisor"),
    (lambda x: V.sincos_1d(np.arange(3), 0), "dim=0"),
    (lambda x: V.sincos_2d((2, 2), -4), "dim=-4"),
    (lambda x: V.sincos_2d((-4, 4), 8), r"grid_size\[0\]=-4: expected a positive int"),
    (lambda x: V.sincos_2d(4, 8), r"grid_size=4: expected a pair \(gh, gw\)"),
    (lambda x: V.resize_pos_embed(np.zeros((17, 4)), (4, 4), (-3, 3), 1), r"new_grid\[0\]=-3: expected a positive"),
    (lambda x: V.resize_pos_embed(np.zeros((17, 4)), (4, 4), "big", 1), r"new_grid='big': expected a pair"),
    (lambda x: V.resize_pos_embed(np.zeros(17), (4, 4), (3, 3), 1), r"pos_embed has shape \(17,\): expected \(T, D\)"),
    (lambda x: V.softmax("abc"), "x is a str: expected a numpy array or a torch tensor; got 'abc'"),
    (lambda x: V.scaled_dot_product_attention(np.zeros((2, 5, 8)), np.zeros((2, 6, 4)), np.zeros((2, 6, 4))),
     r"k has shape \(2, 6, 4\): expected \(..., Tk, 8\) \(d, the width of q\)"),
    (lambda x: V.scaled_dot_product_attention(np.zeros((5, 8)), np.zeros((6, 8)), np.zeros((7, 8))),
     r"v has shape \(7, 8\): expected \(..., 6, dv\) \(Tk, the tokens of k\)"),
    (lambda x: V.layer_norm(np.zeros((2, 5, 16)), np.ones(8), np.zeros(8)),
     r"weight has shape \(8,\): expected \(16,\) \(D, the width of x\)"),
    (lambda x: V.layer_norm(np.zeros((2, 5, 16)), np.ones(16), np.zeros(15)), r"bias has shape \(15,\)"),
    (lambda x: V.unpatchify(np.zeros(48), 4, (1, 1), 3), r"patches has shape \(48,\): expected \(..., N, L\)"),
    (lambda x: V.unpatchify("x", 4, (1, 1), 3), "patches is a str"),
    (lambda x: V.prepend_cls(np.zeros((2, 4, 8)), np.zeros(7)), r"cls_token has shape \(7,\): expected \(8,\)"),
    (lambda x: V.patchify("abc", 4), "images is a str: expected a numpy array"),
    (lambda x: V.conv_windows([[[1.0]]], 1, 1), "images is a list"),
    (lambda x: V.patch_embed(x, np.zeros((4, 3, 2, 2)), np.zeros(5)), r"bias has shape \(5,\): expected \(4,\)"),
])
def test_building_blocks_name_a_bad_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(np.zeros((8, 8, 3), np.float32))


def test_patch_embed_by_default_refuses_what_patchify_refuses(rng):
    """The default call cuts patches, as patchify does, and refuses a size the patch does not divide; an
    explicit stride asks for the convolution, whose windows leave the rest unused (PyTorch's conv2d)."""
    x = rng.random((2, 32, 32, 3)).astype(np.float32)
    w, b = rng.standard_normal((16, 3, 5, 5)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    with pytest.raises(ValueError, match=r"images of size 32x32 with weight.shape=\(16, 3, 5, 5\): sides must be "
                                         r"multiples of 5 \(2 rows and 2 columns would be dropped\).*stride=5"):
        V.patch_embed(x, w, b)
    with pytest.raises(ValueError, match="multiples of 5"):
        V.patchify(x, 5)
    ref = F.conv2d(t(x).permute(0, 3, 1, 2), t(w), t(b), stride=5).flatten(2).transpose(1, 2)
    np.testing.assert_allclose(V.patch_embed(x, w, b, stride=5), ref.numpy(), atol=ATOL32, rtol=0)


def test_a_parameter_prefix_or_block_that_is_not_there_is_named(rng):
    cfg = small_config()
    params = V.init_params(cfg, 0)
    x = rng.random((2, cfg.num_tokens, cfg.d_model)).astype(np.float32)
    with pytest.raises(ValueError, match=r"params has no \['blocks.0.attnq.weight'.*did you mean "
                                         r"prefix='blocks.0.attn.'\? \(a prefix ends with its dot\)"):
        V.multi_head_attention(x, params, "blocks.0.attn", cfg.num_heads)
    with pytest.raises(ValueError, match=r"params has no \['blocks.0.mlpfc1.weight'.*prefix='blocks.0.mlp.'"):
        V.mlp(x, params, "blocks.0.mlp")
    with pytest.raises(ValueError, match=r"params has no \['blocks.99.norm1.weight'.*prefix='blocks.99.'.*"
                                         r"after the prefixes \['blocks.0.', 'blocks.1.'\]"):
        V.encoder_block(x, params, 99, cfg)
    with pytest.raises(ValueError, match="i=-1: expected an int >= 0"):
        V.encoder_block(x, params, -1, cfg)


def test_library_pool_given_a_mode_says_it_takes_a_config():
    """The library's pool(x, cfg) is not exercise 6's pool(x, mode, num_prefix_tokens): a mode in the config's
    place is named, with what to pass."""
    with pytest.raises(ValueError) as info:
        V.pool(np.zeros((5, 8), np.float32), "mean")
    assert str(info.value) == ("cfg is a str: expected a ViTConfig (its pool field says how to pool, e.g. "
                               "ViTConfig(pool='mean', ...); exercise 6's pool(x, mode, num_prefix_tokens) is the "
                               "one that takes the mode); got 'mean'")


def _public_functions_taking_cfg():
    import importlib
    import inspect

    modules = ["vit_lessons.model", "vit_lessons.config", "vit_lessons.encoder", "vit_lessons.embedding",
               "vit_lessons.backward", "vit_lessons.convert", "vit_lessons.experiments", "vit_lessons.interpret.maps",
               "vit_lessons.interpret.embeddings", "vit_lessons.interpret.faithfulness"]
    found = []
    for name in modules:
        module = importlib.import_module(name)
        for fname, f in vars(module).items():
            if not fname.startswith("_") and inspect.isfunction(f) and f.__module__ == name \
                    and "cfg" in inspect.signature(f).parameters:
                found.append(f)
    return found


@pytest.mark.parametrize("func", _public_functions_taking_cfg(), ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_every_public_function_taking_a_config_names_one_that_is_not(func):
    """Whatever comes before it, a cfg that is not a ViTConfig is a ValueError naming it, never an
    AttributeError from reading its fields."""
    import inspect

    args = []
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.KEYWORD_ONLY or p.default is not p.empty:
            break
        args.append({"cfg": "mean", "params": {}, "seed": 0, "i": 0, "table": {}, "state_dict": {},
                     "image_shape": (8, 8, 3), "grads": {}, "saved": {}}.get(p.name, np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError):  # an AttributeError ('str' object has no attribute ...) before
        func(*args)


def test_patchify_says_an_empty_image_is_empty_and_a_channels_first_one_looks_so():
    with pytest.raises(ValueError, match=r"^images of size 0x0 with patch_size=4: the image is empty \(its sides "
                                         r"must be at least 4, a whole patch\)$"):
        V.patchify(np.zeros((0, 0, 3), np.float32), 4)
    with pytest.raises(ValueError, match=r"^images has shape \(0, 0, 3\): the image is empty"):
        V.conv_windows(np.zeros((0, 0, 3), np.float32), 4, 4)
    with pytest.raises(ValueError, match=r"looks like channels-first \(C, H, W\): this book's images are \(H, W, C\); "
                                         r"transpose with image.transpose\(1, 2, 0\)"):
        V.patchify(np.zeros((3, 32, 32), np.float32), 4)
    with pytest.raises(ValueError, match=r"looks like channels-first \(B, C, H, W\)"):
        V.patch_embed(np.zeros((2, 3, 32, 32), np.float32), np.zeros((8, 3, 4, 4), np.float32), None)
