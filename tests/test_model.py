"""The whole model: against Hugging Face weight for weight, numpy vs torch, backward vs autograd."""

import numpy as np
import pytest
import torch

import vit_lessons as V
from vit_lessons.convert import from_hf_vit, to_hf_vit

from .conftest import small_config


def hf_model(cfg, dtype):
    from transformers import ViTConfig as HFConfig
    from transformers import ViTForImageClassification

    hf_cfg = HFConfig(hidden_size=cfg.d_model, num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                      intermediate_size=cfg.d_ff, image_size=list(cfg.image_size), patch_size=cfg.patch_size,
                      num_channels=cfg.channels, num_labels=cfg.num_classes, layer_norm_eps=cfg.ln_eps,
                      hidden_act="gelu", qkv_bias=True,
                      # "eager" attention upcasts the softmax to float32 even in a float64 model
                      attn_implementation="sdpa")
    torch.manual_seed(0)
    return ViTForImageClassification(hf_cfg).to(dtype).eval()


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_cls_model_equals_hugging_face(rng, dtype, tol):
    cfg = V.ViTConfig(image_size=(32, 48), patch_size=8, d_model=32, num_heads=4, d_ff=64, num_layers=3,
                      num_classes=7, pool="cls")
    model = hf_model(cfg, dtype)
    params = V.init_params(cfg, 11)
    model.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in to_hf_vit(params, cfg).items()})
    images = rng.random((3, 32, 48, 3))
    with torch.no_grad():
        ref = model(pixel_values=torch.from_numpy(images).to(dtype).permute(0, 3, 1, 2)).logits.numpy()
    ours = V.forward(params, images.astype(ref.dtype), cfg)
    assert np.abs(ours - ref).max() <= tol
    # and the random HF weights, read back into our layout, give HF's logits
    back = from_hf_vit({k: v.numpy() for k, v in hf_model(cfg, dtype).state_dict().items()}, cfg)
    with torch.no_grad():
        ref2 = hf_model(cfg, dtype)(pixel_values=torch.from_numpy(images).to(dtype).permute(0, 3, 1, 2)).logits
    assert np.abs(V.forward(back, images.astype(ref.dtype), cfg) - ref2.numpy()).max() <= tol


def test_hf_conversion_refuses_mean_pool():
    with pytest.raises(ValueError, match="cfg.pool='mean'"):
        to_hf_vit({}, small_config("mean"))


def _reference_forward(params, image, cfg):
    """The mean-pool definition written out for one image with plain numpy, step by step."""
    P, D = cfg.patch_size, cfg.d_model
    H, W, C = image.shape
    tokens = np.stack([(image[r:r + P, c:c + P, :].transpose(2, 0, 1) * params["patch_embed.weight"]).sum((1, 2, 3))
                       for r in range(0, H, P) for c in range(0, W, P)]) + params["patch_embed.bias"]
    x = tokens + params["pos_embed"]

    def ln(v, w, b):
        return (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + cfg.ln_eps) * w + b

    from scipy.special import erf
    for i in range(cfg.num_layers):
        p = {k[len(f"blocks.{i}."):]: v for k, v in params.items() if k.startswith(f"blocks.{i}.")}
        h = ln(x, p["norm1.weight"], p["norm1.bias"])
        heads = []
        d = D // cfg.num_heads
        q, k, v = (h @ p[f"attn.{n}.weight"].T + p[f"attn.{n}.bias"] for n in "qkv")
        for j in range(cfg.num_heads):
            s = q[:, j * d:(j + 1) * d] @ k[:, j * d:(j + 1) * d].T / np.sqrt(d)
            a = np.exp(s - s.max(1, keepdims=True))
            a /= a.sum(1, keepdims=True)
            heads.append(a @ v[:, j * d:(j + 1) * d])
        x = x + np.concatenate(heads, 1) @ p["attn.proj.weight"].T + p["attn.proj.bias"]
        h = ln(x, p["norm2.weight"], p["norm2.bias"]) @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]
        x = x + (0.5 * h * (1 + erf(h / np.sqrt(2)))) @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
    x = ln(x, params["norm.weight"], params["norm.bias"])
    return x.mean(0) @ params["head.weight"].T + params["head.bias"]


def test_mean_model_equals_its_definition(rng):
    cfg = small_config("mean")
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 5).items()}
    image = rng.random((12, 8, 3))
    np.testing.assert_allclose(V.forward(params, image, cfg), _reference_forward(params, image, cfg), atol=1e-12)


def test_mean_model_is_the_cls_free_path(rng):
    """The mean-pooled model's sequence is the CLS model's without row 0, and its pooling never sees row 0."""
    cfg_mean, cfg_cls = small_config("mean"), small_config("cls")
    pm = V.init_params(cfg_mean, 2)
    pc = dict(pm, cls_token=np.ones(8, np.float32),
              pos_embed=np.concatenate([np.zeros((1, 8), np.float32), pm["pos_embed"]]))
    image = rng.random((12, 8, 3)).astype(np.float32)
    zc = V.embed(image, pc, cfg_cls)
    np.testing.assert_allclose(zc[1:], V.embed(image, pm, cfg_mean), atol=1e-6)
    np.testing.assert_allclose(zc[0], 1.0, atol=1e-6)
    tokens = rng.random((5, 7, 8))
    np.testing.assert_allclose(V.pool(tokens, cfg_mean), tokens.mean(1), atol=1e-12)
    np.testing.assert_array_equal(V.pool(tokens, cfg_cls), tokens[:, 0])


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_numpy_and_torch_agree_and_keep_kind(rng, pool):
    cfg = small_config(pool)
    params = V.init_params(cfg, 0)
    images = rng.random((4, 12, 8, 3)).astype(np.float32)
    out_np, att_np = V.forward(params, images, cfg, return_attention=True)
    out_t, att_t = V.forward(params, torch.from_numpy(images), cfg, return_attention=True)
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, torch.Tensor)
    assert out_np.shape == (4, 3) and out_np.dtype == np.float32
    assert att_np.shape == (2, 4, 2, cfg.num_tokens, cfg.num_tokens)
    np.testing.assert_allclose(out_np, out_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(att_np, att_t.numpy(), atol=1e-6)
    single = V.forward(params, images[1], cfg)
    assert single.shape == (3,)
    np.testing.assert_allclose(single, out_np[1], atol=1e-5)


@pytest.mark.parametrize("pool", ["cls", "mean"])
@pytest.mark.parametrize("stride, padding, batch", [(4, 0, ()), (4, 0, (2,)), (3, 1, (2,))])
def test_backward_equals_autograd(rng, pool, stride, padding, batch):
    cfg = small_config(pool, stride=stride, padding=padding)
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 7).items()}
    image = rng.random((*batch, 12, 8, 3))
    dlogits = rng.standard_normal((*batch, 3))
    grads = V.backward(params, image, cfg, dlogits)
    leaves = V.to_torch(params, requires_grad=True)
    timage = torch.from_numpy(image).requires_grad_(True)
    (V.forward(leaves, timage, cfg) * torch.from_numpy(dlogits)).sum().backward()
    auto = {k: v.grad.numpy() for k, v in leaves.items()} | {"image": timage.grad.numpy()}
    assert grads.keys() == auto.keys()
    for k in auto:
        assert grads[k].shape == auto[k].shape, k
        # relative to the gradient's scale; attn.k.bias has a true gradient of 0 (softmax is shift-invariant)
        scale = max(np.abs(auto[k]).max(), np.abs(auto["head.weight"]).max())
        assert np.abs(grads[k] - auto[k]).max() / scale <= 1e-8, k


def test_gradient_check_on_random_directions(rng):
    cfg = small_config("mean")
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 1).items()}
    image = rng.random((12, 8, 3))
    dlogits = rng.standard_normal(3)
    grads = V.backward(params, image, cfg, dlogits)
    for _ in range(3):
        direction = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        eps = 1e-6
        plus = V.forward({k: v + eps * direction[k] for k, v in params.items()}, image, cfg) @ dlogits
        minus = V.forward({k: v - eps * direction[k] for k, v in params.items()}, image, cfg) @ dlogits
        numeric = (plus - minus) / (2 * eps)
        analytic = sum((grads[k] * direction[k]).sum() for k in params)
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic))


def test_init_params_deterministic_all_random():
    cfg = small_config("cls")
    a, b, c = V.init_params(cfg, 0), V.init_params(cfg, 0), V.init_params(cfg, 1)
    assert list(a) == list(V.param_shapes(cfg))
    for k in a:
        assert a[k].dtype == np.float32 and a[k].shape == V.param_shapes(cfg)[k]
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k]), k
        assert np.all(a[k] != 0) and np.all(a[k] != 1), k
    gains = a["blocks.0.norm1.weight"]
    assert 0.5 < gains.mean() < 1.5 and gains.std() > 0.01
    # a pinned value: the same seed gives the same numbers on any machine
    np.testing.assert_allclose(a["head.bias"][0], np.float32(0.1 * np.random.default_rng(0).standard_normal(
        sum(int(np.prod(s)) for s in V.param_shapes(cfg).values()))[-3]), rtol=1e-6)


def test_init_for_training_is_timm_like():
    cfg = small_config("cls", d_model=64, num_heads=4, d_ff=128)
    p = V.init_params_for_training(cfg, 0)
    assert np.all(p["blocks.0.attn.q.bias"] == 0) and np.all(p["norm.weight"] == 1)
    w = p["blocks.1.mlp.fc1.weight"]
    assert abs(w.std() - 0.02 * 0.88) < 0.002 and np.abs(w).max() <= 0.04
    np.testing.assert_array_equal(p["pos_embed"], V.init_params_for_training(cfg, 0)["pos_embed"])


@pytest.mark.parametrize("bad, pattern", [
    (np.zeros((12, 8)), r"images has shape \(12, 8\)"),
    (np.zeros((8, 12, 3)), r"expected \(12, 8, 3\)"),
    (np.zeros((12, 8, 1)), r"expected \(12, 8, 3\)"),
    (np.zeros((1, 1, 12, 8, 3)), r"images has shape"),
    (np.zeros((12, 8, 3), dtype=np.int64), r"dtype int64"),
    (np.zeros((12, 8, 3), dtype=np.float16), r"images has dtype float16: expected float32 or float64"),
    (torch.zeros((12, 8, 3), dtype=torch.float16), r"images has dtype torch.float16: expected float32 or float64"),
    (torch.zeros((12, 8, 3), dtype=torch.bfloat16), r"dtype torch.bfloat16: expected float32 or float64"),
    ([[0.0]], r"images is a list: expected a numpy array or a torch tensor; got \[\[0.0\]\]"),
])
def test_forward_rejects_bad_images(bad, pattern):
    cfg = small_config()
    with pytest.raises(ValueError, match=pattern):
        V.forward(V.init_params(cfg, 0), bad, cfg)


def test_forward_rejects_bad_params(rng):
    cfg = small_config()
    p = V.init_params(cfg, 0)
    image = rng.random((12, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"missing \['cls_token'\]"):
        V.forward({k: v for k, v in p.items() if k != "cls_token"}, image, cfg)
    with pytest.raises(ValueError, match=r"params\['head.bias'\] has shape \(4,\): expected \(3,\)"):
        V.forward(dict(p, **{"head.bias": np.zeros(4, np.float32)}), image, cfg)
    with pytest.raises(ValueError, match="dlogits has shape"):
        V.backward(p, image, cfg, np.zeros(4))
    with pytest.raises(ValueError, match="seed=-1"):
        V.init_params(cfg, -1)


def test_the_parts_of_the_forward_check_sizes_against_the_config(rng):
    """Each public step names both sizes when its input does not fit the config or the parameters."""
    cfg = small_config()
    p = V.init_params(cfg, 0)
    with pytest.raises(ValueError, match=r"images has shape \(2, 16, 16, 3\): expected \(12, 8, 3\) or "
                                         r"\(B, 12, 8, 3\), channels last, for cfg.image_size=\(12, 8\)"):
        V.embed(np.zeros((2, 16, 16, 3), np.float32), p, cfg)
    wider = V.init_params(cfg.replace(image_size=(16, 8)), 0)
    with pytest.raises(ValueError, match=r"params\['pos_embed'\] has shape \(9, 8\): expected \(7, 8\)"):
        V.embed(np.zeros((12, 8, 3), np.float32), dict(p, pos_embed=wider["pos_embed"]), cfg)
    with pytest.raises(ValueError, match=r"x has shape \(2, 7, 9\): expected \(..., T, 8\) \(D, the width"):
        V.encoder(np.zeros((2, cfg.num_tokens, cfg.d_model + 1), np.float32), p, cfg)
    with pytest.raises(ValueError, match=r"x has shape \(2, 7\): expected \(..., 8\) \(the width D of "
                                         r"params\['head.weight'\]\)"):
        V.head(np.zeros((2, 7)), p)
    with pytest.raises(ValueError, match=r"params has no \['head.weight', 'head.bias'\]"):
        V.head(np.zeros((2, 8)), {k: v for k, v in p.items() if not k.startswith("head.")})
    with pytest.raises(ValueError, match=r"x has shape \(8,\): expected \(..., T, D\)"):
        V.pool(np.zeros(8), cfg)


def test_a_config_given_as_a_dict_says_how_to_make_one(rng):
    cfg = small_config()
    p = V.init_params(cfg, 0)
    image = rng.random((12, 8, 3)).astype(np.float32)
    for call in (lambda: V.forward(p, image, cfg.to_dict()), lambda: V.embed(image, p, cfg.to_dict()),
                 lambda: V.backward(p, image, cfg.to_dict(), np.zeros(3)), lambda: V.check_params(p, {})):
        with pytest.raises(ValueError, match=r"cfg is a dict: expected a ViTConfig \(from a dict of its fields: "
                                             r"ViTConfig.from_dict\(d\)\); got \{"):
            call()
    assert V.ViTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"dlogits is a list: expected a numpy array"):
        V.backward(p, image, cfg, [0.0] * 3)


def test_to_torch_names_what_is_not_parameters():
    with pytest.raises(ValueError, match="params is a str: expected a dict of name -> numpy array or torch tensor"):
        V.to_torch("abc")
    with pytest.raises(ValueError, match="dtype is a str: expected a dtype such as torch.float32; got 'float32'"):
        V.to_torch({"w": np.zeros(2)}, dtype="float32")
    with pytest.raises(ValueError, match=r"params\['w'\] is a str"):
        V.to_torch({"w": "x"})
    assert V.to_torch({"w": np.zeros(2)}, dtype=torch.float64)["w"].dtype == torch.float64


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_model_without_head_returns_pooled_features_and_backward_matches(rng, pool):
    """num_classes=0 (a feature extractor such as DINO's): no head parameters, forward ends at the pooled
    features, the explicit backward takes their gradient, and a checkpoint round-trips."""
    cfg = small_config(pool, num_classes=0)
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 5).items()}
    assert not any(k.startswith("head.") for k in params) and V.num_params(cfg) == sum(v.size for v in params.values())
    images = rng.random((2, 12, 8, 3))
    features = V.forward(params, images, cfg)
    z, _ = V.encoder(V.embed(images, params, cfg), params, cfg)
    expected = V.pool(V.layer_norm(z, params["norm.weight"], params["norm.bias"], cfg.ln_eps), cfg)
    assert features.shape == (2, cfg.d_model) and np.array_equal(features, expected)
    dfeatures = rng.standard_normal(features.shape)
    grads = V.backward(params, images, cfg, dfeatures)
    leaves = V.to_torch(params, requires_grad=True)
    timages = torch.from_numpy(images).requires_grad_(True)
    (V.forward(leaves, timages, cfg) * torch.from_numpy(dfeatures)).sum().backward()
    for k, leaf in leaves.items():
        assert np.abs(grads[k] - leaf.grad.numpy()).max() <= 1e-8 * max(1.0, np.abs(leaf.grad.numpy()).max()), k
    with pytest.raises(ValueError, match=r"dlogits has shape \(2, 3\): expected \(2, 8\)"):
        V.backward(params, images, cfg, rng.standard_normal((2, 3)))


def test_checkpoint_of_a_model_without_head_round_trips(tmp_path):
    cfg = small_config("cls", num_classes=0)
    params = V.init_params(cfg, 2)
    again_cfg, again, _ = V.load_checkpoint(V.save_checkpoint(tmp_path / "features.safetensors", params, cfg))
    assert again_cfg == cfg and again_cfg.num_classes == 0 and list(again) == list(params)


INTERMEDIATES = ["patches", "patch_embed", "embed"] + [
    f"blocks.{i}{name}" for i in range(2) for name in (
        ".norm1", ".attn.q", ".attn.k", ".attn.v", ".attn.probs", ".attn.merged", ".attn", ".after_attn", ".norm2",
        ".mlp.fc1", ".mlp.act", ".mlp", "")] + ["encoder", "norm", "pool", "head"]


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_forward_records_its_intermediates_as_it_goes(rng, pool):
    cfg = small_config(pool)
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 4).items()}
    images = rng.random((2, 12, 8, 3))
    out = {}
    logits, attentions = V.forward(params, images, cfg, return_attention=True, out=out)
    assert list(out) == INTERMEDIATES  # in the order they are computed
    assert out["head"] is logits
    np.testing.assert_array_equal(out["patches"], V.patchify(images, 4))
    np.testing.assert_allclose(out["embed"], V.embed(images, params, cfg), atol=1e-12)
    z1, a1 = V.encoder_block(out["blocks.0"], params, 1, cfg)
    np.testing.assert_allclose(out["blocks.1"], z1, atol=1e-12)
    np.testing.assert_array_equal(out["blocks.1.attn.probs"], attentions[1])
    np.testing.assert_allclose(out["blocks.1.attn.probs"], a1, atol=1e-12)
    assert out["encoder"] is out["blocks.1"]
    np.testing.assert_allclose(out["blocks.0.mlp.act"], V.gelu(out["blocks.0.mlp.fc1"]), atol=1e-12)
    np.testing.assert_allclose(out["pool"], V.pool(out["norm"], cfg), atol=1e-12)
    np.testing.assert_array_equal(V.forward(params, images, cfg), logits)  # recording changes nothing


def test_backward_runs_the_forward_once(rng, monkeypatch):
    """The hand-written backward reads the one forward pass's record: no layer runs a second time."""
    import importlib

    # the modules, not the functions of the same names that vit_lessons exports
    encoder_module, backward_module = (importlib.import_module(f"vit_lessons.{m}") for m in ("encoder", "backward"))
    cfg = small_config("cls", stride=3, padding=1)
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, 7).items()}
    calls = []
    block = encoder_module.encoder_block
    monkeypatch.setattr(encoder_module, "encoder_block", lambda *a, **k: calls.append(a[2]) or block(*a, **k))
    for name in ("encoder_block", "mlp", "multi_head_attention"):
        monkeypatch.setattr(backward_module, name, None)  # what a layer's backward would rerun alone
    grads = V.backward(params, rng.random((2, 12, 8, 3)), cfg, rng.standard_normal((2, 3)))
    assert calls == [0, 1] and set(grads) == set(params) | {"image"}


def test_forward_compiles_to_one_graph(rng):
    """torch.compile traces forward whole: no graph break, no warning, the same logits."""
    import warnings

    for cfg, kwargs in ((small_config("cls"), {}), (small_config("mean", stride=3, padding=1),
                                                    {"return_attention": True})):
        params = V.to_torch(V.init_params(cfg, 0))
        images = torch.from_numpy(rng.random((2, 12, 8, 3)).astype(np.float32))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            explained = torch._dynamo.explain(V.forward)(params, images, cfg, **kwargs)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
        assert not [w for w in caught if "dynamo" in str(w.message).lower()], [str(w.message) for w in caught]
    compiled = torch.compile(V.forward, fullgraph=True, backend="eager")  # tracing only: no code generation
    out = {}
    logits = compiled(params, images, cfg, out=out)
    torch.testing.assert_close(logits, V.forward(params, images, cfg), rtol=0, atol=0)
    assert list(out) == INTERMEDIATES
    torch._dynamo.reset()
