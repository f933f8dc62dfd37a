"""Training: the schedule, the folded standardisation, a seconds-long smoke run, the command line, the CNN baseline."""

import json
import math

import numpy as np
import pytest

import vit_lessons as V
from vit_lessons.checkpoints import load_checkpoint
from vit_lessons.data import make_shapes
from vit_lessons.train import (
    evaluate,
    evaluate_cnn,
    fold_standardisation,
    init_params_for_training,
    lr_at,
    main,
    shapes_config,
    train,
    train_cnn,
)

TINY = dict(image_size=16, patch_size=4, d_model=16, num_heads=2, d_ff=32, num_layers=1)


def test_schedule_warmup_then_cosine():
    lrs = [lr_at(s, 100, 1e-3, 10) for s in range(100)]
    np.testing.assert_allclose(lrs[:10], 1e-3 * np.arange(1, 11) / 10)
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[55] == pytest.approx(0.5e-3 * (1 + math.cos(math.pi * 45 / 90)))
    assert lrs[-1] < 1e-6 and all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_fold_standardisation_is_exact(rng):
    cfg = shapes_config("mean", **TINY)
    params = V.init_params(cfg, seed=0)
    x = rng.random((3, 16, 16, 3)).astype(np.float32)
    mean, std = np.array([0.3, 0.4, 0.5], np.float32), np.array([0.2, 0.25, 0.3], np.float32)
    np.testing.assert_allclose(V.forward(fold_standardisation(params, mean, std), x, cfg),
                               V.forward(params, (x - mean) / std, cfg), atol=1e-5)


def test_smoke_run_learns_and_is_seeded():
    """A couple of seconds: 40 steps of a one-block model on 16 x 16 shapes beat chance clearly."""
    cfg = shapes_config("cls", **TINY)
    data = make_shapes(640, seed=11, image_size=16)
    runs = [train(cfg, steps=40, batch_size=32, lr=1e-2, warmup=5, data=data, threads=1, progress=False)
            for _ in range(2)]
    r = runs[0]
    assert set(r.history) == {"step", "loss", "accuracy", "lr", "grad_norm"}
    assert len(r.history["loss"]) == 40 and r.history["step"] == list(range(40))
    assert np.mean(r.history["loss"][-5:]) < np.mean(r.history["loss"][:5]) - 0.3
    for k in r.params:
        assert r.params[k].dtype == np.float32
        np.testing.assert_array_equal(r.params[k], runs[1].params[k])  # same seed, same bits
    assert evaluate(r.params, cfg, make_shapes(300, seed=12, image_size=16)) > 0.4  # chance: 0.2


def test_train_validates():
    cfg = shapes_config("cls", **TINY)
    with pytest.raises(ValueError, match="steps=0"):
        train(cfg, steps=0, progress=False)
    with pytest.raises(ValueError, match="warmup=9"):
        train(cfg, steps=5, warmup=9, progress=False)
    with pytest.raises(ValueError, match="num_classes=3"):
        train(cfg.replace(num_classes=3), steps=2, warmup=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="cfg"):
        train(cfg.to_dict(), progress=False)
    with pytest.raises(ValueError, match="threads=0"):
        train(cfg, steps=2, warmup=1, threads=0, progress=False)
    with pytest.raises(ValueError, match="batch_size=0"):
        train_cnn(steps=2, batch_size=0, progress=False)


@pytest.mark.parametrize("change, message", [
    (dict(lr="x"), "lr='x': expected a number >= 0.0"),
    (dict(weight_decay=-1.0), "weight_decay=-1.0: expected a number >= 0.0"),
    (dict(label_smoothing=2.0), r"label_smoothing=2.0: expected a number in \[0.0, 1.0\)"),
    (dict(device="gpu"), "device='gpu': expected 'cpu' or 'cuda'"),
    (dict(seed=-1), "seed=-1: expected an int >= 0"),
    (dict(trainable="head.weight"), "trainable='head.weight': expected a collection of parameter names"),
    (dict(data=np.zeros((8, 16, 16, 3), np.float32)), "data is a ndarray: expected a Shapes"),
])
def test_train_names_a_bad_setting_before_it_trains(change, message):
    cfg = shapes_config("cls", **TINY)
    kwargs = dict(steps=1, batch_size=4, warmup=0, data=make_shapes(8, 0, image_size=16), progress=False)
    with pytest.raises(ValueError, match=message):
        train(cfg, **{**kwargs, **change})


def test_evaluation_and_the_cnn_name_a_bad_argument():
    cfg, data = shapes_config("cls", **TINY), make_shapes(8, 0, image_size=16)
    params = init_params_for_training(cfg, 0)
    with pytest.raises(ValueError, match="data is a ndarray: expected a Shapes"):
        evaluate(params, cfg, data.images)
    with pytest.raises(ValueError, match="batch_size=0: expected a positive int"):
        evaluate(params, cfg, data, batch_size=0)
    with pytest.raises(ValueError, match="lr=-1.0: expected a number >= 0.0"):
        train_cnn(steps=1, batch_size=4, warmup=0, lr=-1.0, data=data, progress=False)


def test_command_line_writes_checkpoint_and_record(tmp_path, capsys):
    out = tmp_path / "tiny.safetensors"
    argv = ["--pool", "mean", "--image-size", "16", "--d-model", "16", "--num-heads", "2", "--d-ff", "32",
            "--num-layers", "1", "--steps", "3", "--batch-size", "8", "--warmup", "1", "--test-size", "50",
            "--no-progress", "--out", str(out)]
    record = main(argv)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["command"] == "python -m vit_lessons.train " + " ".join(argv)
    cfg, params, meta = load_checkpoint(out)
    assert cfg.pool == "mean" and cfg.d_model == 16
    assert meta["test_accuracy"] == record["test_accuracy"]
    # the recorded accuracy is reproduced from the file and the recorded test seed
    test = make_shapes(saved["test_size"], saved["test_seed"], image_size=16)
    assert evaluate(params, cfg, test) == pytest.approx(saved["test_accuracy"], abs=1 / 50)
    with pytest.raises(ValueError, match="test-seed"):
        main(["--test-seed", "1", "--data-seed", "1", "--steps", "1"])


def test_cnn_baseline_smoke():
    data = make_shapes(256, seed=3, image_size=16)
    r = train_cnn(steps=4, batch_size=32, warmup=1, data=data, threads=1, progress=False)
    assert r.params is None and len(r.history["accuracy"]) == 4
    assert 0.0 <= evaluate_cnn(r.model, data) <= 1.0
    again = train_cnn(steps=4, batch_size=32, warmup=1, data=data, threads=1, progress=False)
    for a, b in zip(r.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # seeded without the global seed


def _process_state():
    """What a caller of train could see change: torch's threads, flush-denormal mode and generators, numpy's
    global generator."""
    import torch

    flushes = torch.tensor(1e-40, dtype=torch.float32).mul(1.0).item() == 0.0
    return (torch.get_num_threads(), flushes, torch.random.get_rng_state().numpy().tobytes(),
            str(np.random.get_state()))


@pytest.mark.parametrize("flush", [False, True])
def test_training_leaves_the_process_as_it_was(flush):
    """train and train_cnn set threads and flush-denormal for their own duration only, and seed nothing global."""
    import torch

    data = make_shapes(64, seed=4, image_size=16)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.set_flush_denormal(flush)
    try:
        before = _process_state()
        train(shapes_config("mean", **TINY), steps=2, batch_size=16, warmup=1, data=data, threads=1, progress=False)
        assert _process_state() == before
        train_cnn(steps=2, batch_size=16, warmup=1, data=data, threads=1, seed=5, progress=False)
        assert _process_state() == before
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
