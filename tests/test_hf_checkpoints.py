"""Real checkpoints (vit_lessons.convert.load_hf and friends) on small random models saved by transformers.

Nothing is downloaded: the models are written with ``save_pretrained`` into temporary folders, or into a
temporary Hugging Face hub cache under the real names, and the offline cases run in subprocesses whose hub
is switched off or points at a closed port on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import skimage.data
import torch

import vit_lessons as V
from vit_lessons import convert

from .hf_helpers import PROCESSOR_DINO, PROCESSOR_VIT_B16, cache_as_hub, save_random_hf

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSIFIER = V.ViTConfig(image_size=32, patch_size=8, d_model=24, num_heads=3, d_ff=48, num_layers=2,
                         num_classes=5, ln_eps=1e-12)
FEATURES = CLASSIFIER.replace(num_classes=0, num_layers=3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {"classifier": save_random_hf(root / "classifier", CLASSIFIER, seed=1, processor=PROCESSOR_VIT_B16),
            "features": save_random_hf(root / "features", FEATURES, seed=2, processor=PROCESSOR_DINO)}


def pixel_values(images):
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def test_classifier_logits_equal_hugging_face(saved, rng):
    from transformers import ViTForImageClassification

    cfg, params = convert.load_hf(saved["classifier"])
    assert cfg == CLASSIFIER and cfg.ln_eps == 1e-12 and all(v.dtype == np.float32 for v in params.values())
    images = rng.standard_normal((3, 32, 32, 3)).astype(np.float32)
    model = ViTForImageClassification.from_pretrained(saved["classifier"]).eval()
    with torch.no_grad():
        theirs = model(pixel_values=pixel_values(images)).logits.numpy()
    ours = V.forward(params, images, cfg)
    assert ours.shape == (3, 5) and np.abs(ours - theirs).max() <= 1e-4
    assert convert.hf_class_names(saved["classifier"]) == [f"class {k}" for k in range(5)]


def test_model_without_head_equals_hugging_face_states_and_attention(saved, rng):
    from transformers import ViTModel

    cfg, params = convert.load_hf(saved["features"])
    assert cfg.num_classes == 0 and "head.weight" not in params and convert.hf_class_names(saved["features"]) is None
    images = rng.standard_normal((2, 32, 32, 3)).astype(np.float32)
    model = ViTModel.from_pretrained(saved["features"], add_pooling_layer=False, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(pixel_values=pixel_values(images), output_attentions=True)
    features, attentions = V.forward(params, images, cfg, return_attention=True)
    z, _ = V.encoder(V.embed(images, params, cfg), params, cfg)
    last_hidden = V.layer_norm(z, params["norm.weight"], params["norm.bias"], cfg.ln_eps)
    assert np.abs(last_hidden - out.last_hidden_state.numpy()).max() <= 1e-4
    assert np.abs(features - out.last_hidden_state[:, 0].numpy()).max() <= 1e-4
    assert attentions.shape == (3, 2, 3, 17, 17)
    assert np.abs(attentions - torch.stack(out.attentions).numpy()).max() <= 1e-4


PROCESSORS = {"vit-b16": PROCESSOR_VIT_B16, "dino": PROCESSOR_DINO,
              "shortest edge and crop": {"do_resize": True, "size": {"shortest_edge": 40}, "resample": 3,
                                         "do_center_crop": True, "crop_size": {"height": 32, "width": 32},
                                         "image_processor_type": "ViTImageProcessor", "do_rescale": True,
                                         "rescale_factor": 1 / 255, "image_mean": 0.5, "image_std": [0.2, 0.3, 0.4]},
              "crop larger than the image": {"do_resize": True, "size": {"height": 20, "width": 30}, "resample": 0,
                                             "do_center_crop": True, "crop_size": {"height": 25, "width": 25},
                                             "image_processor_type": "ViTImageProcessor"}}


@pytest.mark.parametrize("processor", list(PROCESSORS))
@pytest.mark.parametrize("photo", ["chelsea", "coffee", "astronaut", "camera"])
def test_preprocessing_equals_hugging_face_image_processor(tmp_path, processor, photo):
    from transformers import AutoImageProcessor

    (tmp_path / "preprocessor_config.json").write_text(json.dumps(PROCESSORS[processor]))
    image = getattr(skimage.data, photo)()                               # uint8, (H, W, 3) or grey (H, W)
    ours = convert.ImagePreprocessor.from_hf(PROCESSORS[processor])(image)
    hf_image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
    theirs = AutoImageProcessor.from_pretrained(tmp_path)(hf_image, return_tensors="np")["pixel_values"][0]
    assert ours.dtype == np.float32 and ours.shape == theirs.transpose(1, 2, 0).shape
    assert np.abs(ours - theirs.transpose(1, 2, 0)).max() <= 1e-5


def test_preprocessor_read_from_the_checkpoint(saved):
    p = convert.hf_preprocessor(saved["features"])
    assert p == convert.ImagePreprocessor(resize=(224, 224), resample=3, mean=(0.485, 0.456, 0.406),
                                          std=(0.229, 0.224, 0.225))
    assert str(p) == ("resize to 224 x 224 (bicubic), rescale by 1/255, normalise with mean (0.485, 0.456, 0.406) "
                      "and std (0.229, 0.224, 0.225)")
    pixels = p.pixels(skimage.data.chelsea())
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    np.testing.assert_allclose(p(pixels / 255.0), p(pixels), atol=1e-6)     # floats in [0, 1] are the same bytes


@pytest.mark.parametrize("change, pattern", [
    ({"do_pad": True}, r"keys \['do_pad'\] are not supported"),
    ({"image_processor_type": "ConvNextImageProcessor"}, r"image_processor_type='ConvNextImageProcessor'"),
    ({"size": {"longest_edge": 224}}, r"size=\{'longest_edge': 224\} is not supported"),
    ({"resample": 9}, r"resample=9"),
    ({"image_std": [0.5, 0.0, 0.5]}, r"image_std=\[0.5, 0.0, 0.5\]"),
    ({"rescale_factor": -1}, r"rescale_factor=-1"),
])
def test_preprocessor_refuses_what_it_does_not_know(change, pattern):
    with pytest.raises(ValueError, match=pattern):
        convert.ImagePreprocessor.from_hf({**PROCESSOR_VIT_B16, **change})


@pytest.mark.parametrize("image, pattern", [
    (np.zeros((8, 8, 4), np.uint8), r"shape \(8, 8, 4\).*alpha"),
    (np.full((8, 8, 3), 2.0), r"dtype float64 with values in \[2.0, 2.0\]"),
    (np.zeros((8, 8, 3), np.int64), r"dtype int64"),
    (np.zeros((0, 8, 3), np.uint8), r"shape \(0, 8, 3\)"),
])
def test_preprocessing_rejects_bad_images(image, pattern):
    with pytest.raises(ValueError, match=pattern):
        convert.ImagePreprocessor()(image)


@pytest.mark.parametrize("feature, save_kwargs, edit, pattern", [
    ("a pooler layer", dict(pooler=True), None, r"pooler layer \(pooler.dense.bias, pooler.dense.weight\)"),
    ("no q/k/v biases", dict(qkv_bias=False), None, r"qkv_bias=False is not supported"),
    ("the tanh GELU", dict(hidden_act="gelu_pytorch_tanh"), None, r"hidden_act='gelu_pytorch_tanh' is not supported"),
    ("ReLU", dict(hidden_act="relu"), None, r"hidden_act='relu'"),
    ("positions for another grid", {}, {"image_size": 48}, r"another shape.*interpolated"),
    ("a head the weights lack", {}, {"architectures": ["ViTForImageClassification"],
                                     "id2label": {"0": "a", "1": "b"}}, r"lacks \['classifier.bias'"),
    ("another architecture", {}, {"model_type": "deit"}, r"model_type='deit' is not supported"),
    ("masked image modelling", {}, {"architectures": ["ViTForMaskedImageModeling"]}, r"architectures="),
    ("another head width", {}, {"head_dim": 4}, r"head_dim=4 is not supported"),
])
def test_unsupported_checkpoints_are_refused_by_name(tmp_path, feature, save_kwargs, edit, pattern):
    folder = save_random_hf(tmp_path / "model", FEATURES, **save_kwargs)
    if edit:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(ValueError, match=pattern):
        convert.load_hf(folder)


def test_bad_names_and_revisions(saved, tmp_path):
    with pytest.raises(ValueError, match=r"name_or_path='not a model!': neither a folder nor"):
        convert.load_hf("not a model!")
    with pytest.raises(ValueError, match=r"no such folder"):
        convert.load_hf("./no-such-folder")
    with pytest.raises(ValueError, match=r"revision='main': a revision names a hub commit"):
        convert.load_hf(saved["classifier"], revision="main")
    with pytest.raises(ValueError, match=r"name_or_path=None"):
        convert.load_hf(None)
    with pytest.raises(ValueError, match=r"model.safetensors' is a file: expected the folder"):
        convert.load_hf(str(saved["classifier"] / "model.safetensors"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no config.json"):
        convert.load_hf(tmp_path / "empty")


def test_hub_names_load_from_the_cache_without_network(saved, tmp_path):
    hub = tmp_path / "hub"
    cache_as_hub(hub, "google/vit-base-patch16-224", saved["classifier"])
    cache_as_hub(hub, "facebook/dino-vits16", saved["features"])
    assert convert.is_cached("google/vit-base-patch16-224", cache_dir=hub)
    assert not convert.is_cached("facebook/dino-vitb16", cache_dir=hub)
    cfg, params = convert.load_hf("google/vit-base-patch16-224", cache_dir=hub)
    assert cfg.name == "google/vit-base-patch16-224" and cfg.replace(name="") == CLASSIFIER
    ref_cfg, ref = convert.load_hf(saved["classifier"])
    assert all(np.array_equal(params[k], ref[k]) for k in ref)
    assert convert.load_hf("facebook/dino-vits16", cache_dir=hub)[0].num_classes == 0
    assert convert.hf_preprocessor("facebook/dino-vits16", cache_dir=hub).resample == 3
    # a snapshot without its weights is not "cached"
    cache_as_hub(hub, "someone/config-only", saved["classifier"])
    (next((hub / "models--someone--config-only" / "snapshots").iterdir()) / "model.safetensors").unlink()
    assert not convert.is_cached("someone/config-only", cache_dir=hub)


# ---- offline: a clear error within seconds, never a hang or a deep traceback ----------------------------
LOAD = textwrap.dedent("""
    import sys, time
    from vit_lessons import convert
    convert.PROBE_TIMEOUT = float(sys.argv[2])
    start = time.perf_counter()
    try:
        convert.load_hf(sys.argv[1])
    except convert.NotCachedError as error:
        print(f"{time.perf_counter() - start:.2f}")
        print(error)
    else:
        print("loaded")
""")


def run_offline(env_changes: dict, name: str = "google/vit-base-patch16-224", probe_timeout: float = 5.0,
                code: str = LOAD, args=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(PYTHONPATH=REPO_ROOT, **env_changes)
    argv = args if args is not None else [name, str(probe_timeout)]
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=120)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens on it once the socket is closed


def check_offline_error(out: subprocess.CompletedProcess, reason: str, within: float):
    assert out.returncode == 0, out.stderr[-2000:]
    seconds, *message = out.stdout.strip().splitlines()
    message = "\n".join(message)
    assert float(seconds) <= within, f"the error took {seconds} s"
    assert "google/vit-base-patch16-224 is not in the Hugging Face cache" in message and reason in message
    assert "python -m vit_lessons.convert fetch google/vit-base-patch16-224" in message


def test_offline_flag_gives_a_clear_error_at_once(tmp_path):
    out = run_offline({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)})
    check_offline_error(out, "HF_HUB_OFFLINE=1", within=2.0)


def test_unreachable_hub_gives_a_clear_error_at_once(tmp_path):
    """No offline flag, and a hub that refuses connections (a closed port): huggingface_hub alone would
    retry for about 20 s before giving up."""
    out = run_offline({"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HOME": str(tmp_path)})
    check_offline_error(out, "cannot be reached", within=3.0)


def test_silent_hub_gives_a_clear_error_after_the_probe_timeout(tmp_path):
    """A hub that accepts the connection and never answers (a network that drops packets)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    try:
        out = run_offline({"HF_ENDPOINT": f"http://127.0.0.1:{server.getsockname()[1]}", "HF_HOME": str(tmp_path)},
                          probe_timeout=1.0)
    finally:
        server.close()
    check_offline_error(out, "ReadTimeout", within=4.0)


def test_fetch_command_offline_says_why_without_a_traceback(tmp_path):
    code = "import sys; from vit_lessons.convert import main; sys.exit(main(sys.argv[1:]))"
    out = run_offline({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}, code=code,
                      args=["fetch", "google/vit-base-patch16-224", "facebook/dino-vits16"])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("facebook/dino-vits16: facebook/dino-vits16 is not in the")


def test_offline_cache_still_loads(saved, tmp_path):
    cache_as_hub(tmp_path / "hub", "google/vit-base-patch16-224", saved["classifier"])
    out = run_offline({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)})
    assert out.stdout.strip() == "loaded", out.stdout + out.stderr[-2000:]


def test_fetch_takes_one_weights_file_preferring_safetensors():
    both = ["config.json", "preprocessor_config.json", "model.safetensors", "pytorch_model.bin", "flax_model.msgpack",
            "tf_model.h5", "README.md"]
    assert convert.files_to_fetch("a/b", both) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert convert.files_to_fetch("a/b", ["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]
    with pytest.raises(ValueError, match=r"name='a/b': expected config.json and one of"):
        convert.files_to_fetch("a/b", ["config.json", "model-00001-of-00002.safetensors"])


LEGACY = [(r"\.layers\.(\d+)\.", r".encoder.layer.\1."), (r"^layers\.(\d+)\.", r"encoder.layer.\1."),
          (r"attention\.q_proj", "attention.attention.query"), (r"attention\.k_proj", "attention.attention.key"),
          (r"attention\.v_proj", "attention.attention.value"), (r"attention\.o_proj", "attention.output.dense"),
          (r"mlp\.fc1", "intermediate.dense"), (r"mlp\.fc2", "output.dense")]


@pytest.mark.parametrize("kind", ["classifier", "features"])
def test_checkpoints_written_by_transformers_4_load_the_same(saved, tmp_path, kind):
    """The hub's ViT checkpoints were converted with transformers 4, whose names differ
    (encoder.layer.i.attention.attention.query, intermediate.dense, ...); from_pretrained renames them."""
    import re
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / kind
    shutil.copytree(saved[kind], folder)
    tensors = load_file(folder / "model.safetensors")
    renamed = {}
    for name, tensor in tensors.items():
        for pattern, old in LEGACY:
            name = re.sub(pattern, old, name)
        renamed[name] = tensor
    assert any(".attention.attention.query." in k for k in renamed) and any("intermediate.dense" in k for k in renamed)
    save_file(renamed, folder / "model.safetensors", metadata={"format": "pt"})
    cfg, params = convert.load_hf(folder)
    ref_cfg, ref = convert.load_hf(saved[kind])
    assert cfg.replace(name="") == ref_cfg.replace(name="") and all(np.array_equal(params[k], ref[k]) for k in ref)
