"""Checkpoints: round trip, the shipped ones re-evaluated, and every kind of bad file refused with a clear error."""

import json
import pickle
import struct

import numpy as np
import pytest

import vit_lessons as V
from tests.conftest import small_config
from vit_lessons.checkpoints import PRETRAINED, load_checkpoint, load_pretrained, pretrained_record, save_checkpoint
from vit_lessons.data import make_shapes
from vit_lessons.train import evaluate


@pytest.fixture
def saved(tmp_path):
    cfg = small_config("cls")
    params = V.init_params(cfg, seed=0)
    path = save_checkpoint(tmp_path / "m.safetensors", params, cfg, note="hello", accuracy=0.5)
    return path, cfg, params


def test_round_trip(saved):
    path, cfg, params = saved
    cfg2, params2, meta = load_checkpoint(path)
    assert cfg2 == cfg
    assert meta == {"note": "hello", "accuracy": 0.5}
    assert set(params2) == set(params)
    for k in params:
        assert params2[k].dtype == np.float32
        np.testing.assert_array_equal(params2[k], params[k])


def test_round_trip_from_torch_and_mean_pool(tmp_path):
    cfg = small_config("mean")
    params = V.to_torch(V.init_params(cfg, seed=1), requires_grad=True)
    save_checkpoint(tmp_path / "t.safetensors", params, cfg)
    cfg2, params2, _ = load_checkpoint(tmp_path / "t.safetensors")
    assert cfg2.pool == "mean"
    np.testing.assert_array_equal(params2["pos_embed"], params["pos_embed"].detach().numpy())


def test_header_length_of_any_first_byte_loads(tmp_path, saved):
    """A header length whose low byte is 0x80 begins with a pickle's first byte: still a checkpoint."""
    _, cfg, params = saved
    path = tmp_path / "m.safetensors"
    for pad in range(256):
        save_checkpoint(path, params, cfg, note="x" * pad)
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    cfg2, params2, meta = load_checkpoint(path)
    assert cfg2 == cfg and meta == {"note": "x" * pad}
    np.testing.assert_array_equal(params2["head.weight"], params["head.weight"])


def _rewrite(path, header: dict, data: bytes):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def _split(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def test_truncated_file_is_refused(saved):
    path = saved[0]
    raw = path.read_bytes()
    for cut in (4, 100, len(raw) - 10):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated|too short"):
            load_checkpoint(path)


def test_bit_flip_in_the_header_is_refused(saved):
    path = saved[0]
    raw = bytearray(path.read_bytes())
    raw[9] ^= 0x40  # inside the JSON header: '"' -> 'b' breaks the JSON
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="header"):
        load_checkpoint(path)


def test_bit_flip_in_the_weights_is_refused(saved):
    path = saved[0]
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="data_sha256"):
        load_checkpoint(path)


def test_pickle_renamed_safetensors_is_refused_and_not_unpickled(tmp_path, saved):
    _, cfg, params = saved
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"params": params, "cfg": cfg.to_dict()}))
    with pytest.raises(ValueError, match="pickle"):
        load_checkpoint(path)


def test_torch_save_zip_is_refused(tmp_path, saved):
    import torch

    path = tmp_path / "model.safetensors"
    torch.save(V.to_torch(saved[2]), path)
    with pytest.raises(ValueError, match="zip|not a safetensors"):
        load_checkpoint(path)


def test_wrong_keys_are_named(saved):
    path = saved[0]
    header, data = _split(path)
    header["head.weights"] = header.pop("head.weight")
    header["__metadata__"].pop("data_sha256")
    _rewrite(path, header, data)
    with pytest.raises(ValueError, match=r"missing \['head.weight'\], unexpected \['head.weights'\]"):
        load_checkpoint(path)


def test_wrong_shape_is_named(tmp_path):
    cfg = small_config("cls")
    bigger = V.init_params(cfg.replace(num_classes=4), seed=0)
    save_checkpoint(tmp_path / "a.safetensors", bigger, cfg.replace(num_classes=4))
    header, data = _split(tmp_path / "a.safetensors")
    header["__metadata__"]["config"] = json.dumps(cfg.to_dict())  # metadata says 3 classes, tensors have 4
    _rewrite(tmp_path / "a.safetensors", header, data)
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(4, 8\): expected \(3, 8\)"):
        load_checkpoint(tmp_path / "a.safetensors")


def test_wrong_dtype_is_named(tmp_path):
    from safetensors.numpy import save_file

    cfg = small_config("cls")
    params = {k: v.astype(np.float64) for k, v in V.init_params(cfg, seed=0).items()}
    save_file(params, tmp_path / "d.safetensors", metadata={"config": json.dumps(cfg.to_dict())})
    with pytest.raises(ValueError, match="dtype F64: expected F32"):
        load_checkpoint(tmp_path / "d.safetensors")


def test_missing_or_bad_config_is_named(tmp_path):
    from safetensors.numpy import save_file

    cfg = small_config("cls")
    params = V.init_params(cfg, seed=0)
    save_file(params, tmp_path / "n.safetensors")
    with pytest.raises(ValueError, match="no 'config'"):
        load_checkpoint(tmp_path / "n.safetensors")
    save_file(params, tmp_path / "b.safetensors", metadata={"config": json.dumps({"d_model": 8})})
    with pytest.raises(ValueError, match="not a valid ViTConfig"):
        load_checkpoint(tmp_path / "b.safetensors")
    bad = dict(cfg.to_dict(), num_heads=3)  # 8 is not divisible by 3
    save_file(params, tmp_path / "c.safetensors", metadata={"config": json.dumps(bad)})
    with pytest.raises(ValueError, match="num_heads"):
        load_checkpoint(tmp_path / "c.safetensors")


def test_config_that_does_not_match_the_tensors(tmp_path):
    """A mean-pool config over CLS-model tensors: the cls_token is unexpected."""
    from safetensors.numpy import save_file

    cfg = small_config("cls")
    save_file(V.init_params(cfg, seed=0), tmp_path / "m.safetensors",
              metadata={"config": json.dumps(cfg.replace(pool="mean").to_dict())})
    with pytest.raises(ValueError, match=r"unexpected \['cls_token'\]"):
        load_checkpoint(tmp_path / "m.safetensors")


def test_save_validates(tmp_path):
    cfg = small_config("cls")
    params = V.init_params(cfg, seed=0)
    with pytest.raises(ValueError, match="cfg"):
        save_checkpoint(tmp_path / "x.safetensors", params, cfg.to_dict())
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.safetensors", params, cfg, config="x")
    params.pop("head.bias")
    with pytest.raises(ValueError, match="head.bias"):
        save_checkpoint(tmp_path / "x.safetensors", params, cfg)


def test_a_path_that_is_not_a_checkpoint_file_is_named(tmp_path, saved):
    with pytest.raises(ValueError, match=r"path='.*' is a folder: expected a .safetensors file written by "
                                         r"save_checkpoint \(the folder has \['.*.safetensors'\]\)"):
        load_checkpoint(saved[0].parent)
    with pytest.raises(ValueError, match="path is an int: expected a str or PathLike"):
        load_checkpoint(123)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_load_pretrained_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="shapes-cls.*shapes-mean"):
        load_pretrained("imagenet")


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_shipped_checkpoint_reaches_its_recorded_accuracy(name):
    """Re-evaluate on a freshly generated held-out split (the recorded seed and size) with the same generator."""
    from vit_lessons.checkpoints import PRETRAINED_DIR

    cfg, params = load_pretrained(name)
    record = pretrained_record(name)
    assert (PRETRAINED_DIR / PRETRAINED[name]).stat().st_size < 2 * 1024 * 1024
    assert cfg.pool == name.split("-")[1]
    assert all(p.dtype == np.float32 for p in params.values())
    assert record["command"].startswith("python -m vit_lessons.train ")
    assert record["test_seed"] != record["data_seed"]
    test = make_shapes(record["test_size"], record["test_seed"], image_size=cfg.image_size[0])
    accuracy = evaluate(params, cfg, test)
    assert accuracy == pytest.approx(record["test_accuracy"], abs=2 / record["test_size"])
    assert accuracy >= 0.97
