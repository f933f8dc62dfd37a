"""The data-scaling experiment: one tiny point of the same code, the command line and its record, and the
shipped record (complete, consistent with the code's plan, made by the recorded command)."""

import json
import shlex

import numpy as np
import pytest

from vit_lessons import experiments as X

TINY = dict(X.SWEEP, sizes=(40, 80), seeds=(0,), max_steps=3, batch_size=16, test_size=50)


def test_budget_rule_is_passes_with_a_floor_and_a_cap():
    S = X.SWEEP
    for size in (1, 100, 500, 1000, 2000, 3000, 10 ** 7):
        passes = -(-S["epochs"] * size // S["batch_size"])
        assert X.steps_for(size) == min(S["max_steps"], max(S["min_steps"], passes)), size
    assert X.steps_for(10 ** 7) == S["max_steps"] and X.steps_for(1) == S["min_steps"]
    assert X.steps_for(1, dict(S, epochs=1, batch_size=64, min_steps=1)) == 1
    assert X.steps_for(640, {k: v for k, v in S.items() if k != "min_steps"} | dict(epochs=1, batch_size=64)) == 10
    # within the sweep the cap does not bind, and the largest set gets its passes, above the floor
    steps = [X.steps_for(s) for s in S["sizes"]]
    assert steps == sorted(steps) and max(steps) < S["max_steps"]
    assert X.steps_for(max(S["sizes"])) == -(-S["epochs"] * max(S["sizes"]) // S["batch_size"]) > S["min_steps"]


def test_training_sets_are_prefixes_drawn_chunk_by_chunk():
    small, large = X.training_images(300), X.training_images(700)
    assert len(small) == 300 and len(large) == 700
    np.testing.assert_array_equal(small.images, large.images[:300])
    np.testing.assert_array_equal(small.labels, large.labels[:300])
    # the same images whatever the sweep's largest size, and a small set draws only the chunks it uses
    other = dict(X.SWEEP, sizes=(300, 64000))
    X._shapes.cache_clear()
    np.testing.assert_array_equal(X.training_images(300, other).images, small.images)
    assert X._shapes.cache_info().currsize == -(-300 // X.SWEEP["chunk"])
    # chunks are different images (independent seeds), and so are the held-out splits
    chunk = X.SWEEP["chunk"]
    assert not np.array_equal(large.images[:chunk], large.images[chunk:2 * chunk])
    test, validation = X.held_out_images(split="test"), X.held_out_images(split="validation")
    assert len(test) == len(validation) == X.SWEEP["test_size"]
    assert not np.isclose(test.images[:, None, :4, :4], large.images[None, :, :4, :4]).all(axis=(2, 3, 4)).any()
    assert not np.isclose(test.images[:, None, :4, :4], validation.images[None, :, :4, :4]).all(axis=(2, 3, 4)).any()
    with pytest.raises(ValueError, match="split='train'"):
        X.held_out_images(split="train")


@pytest.mark.parametrize("model", sorted(X.MODEL_SIZES))
def test_a_tiny_point_runs_and_is_deterministic(model):
    a, b = (X.run_point(model, 40, 0, settings=TINY) for _ in range(2))
    assert a == {**b, "seconds": a["seconds"]}                       # same seed, same result
    assert a["model"] == model and a["size"] == 40 and a["steps"] == 3
    assert 0.0 <= a["test_accuracy"] <= 1.0 and 0.0 <= a["train_accuracy"] <= 1.0
    assert a["test_accuracy"] * TINY["test_size"] == pytest.approx(round(a["test_accuracy"] * TINY["test_size"]))


def test_the_check_point_is_a_point_of_the_same_code():
    point = X.check_point(0, TINY)
    assert point == {**X.run_point(X.CHECK["model"], 40, 0, settings=dict(TINY, min_steps=X.CHECK["min_steps"])),
                     "seconds": point["seconds"]}


def test_run_point_validates():
    with pytest.raises(ValueError, match="model='resnet'"):
        X.run_point("resnet", 40, 0, settings=TINY)
    with pytest.raises(ValueError, match="size=81"):
        X.run_point("cnn", 81, 0, settings=TINY)
    with pytest.raises(ValueError, match=r"size=np.int64\(0\): expected an int in \[1, 80\]"):
        X.run_point("cnn", np.int64(0), 0, settings=TINY)
    with pytest.raises(ValueError, match="size=40.0: expected an int in"):
        X.run_point("cnn", 40.0, 0, settings=TINY)
    with pytest.raises(ValueError, match="seed=-1: expected an int >= 0"):
        X.run_point("cnn", 40, -1, settings=TINY)


def test_run_point_takes_a_numpy_int_as_every_check_int_does():
    """A size drawn from a numpy array (e.g. np.arange) is an int; the record keeps a plain int."""
    point = X.run_point("cnn", np.int64(40), np.int64(0), settings=TINY)
    assert type(point["size"]) is int and type(point["seed"]) is int
    assert point == {**X.run_point("cnn", 40, 0, settings=TINY), "seconds": point["seconds"]}


def test_the_sincos_vit_keeps_its_positions_fixed():
    cfg = X.vit_config()
    init = X.sincos_init(cfg, 0)
    np.testing.assert_array_equal(init["pos_embed"][1:], X.V.sincos_2d(cfg.grid_size, cfg.d_model))
    np.testing.assert_array_equal(init["pos_embed"][0], 0.0)
    sizes = X.model_sizes()
    assert sizes["vit"]["params"] - sizes["vit-sincos"]["params"] == cfg.num_patches * cfg.d_model


def test_cnn_macs_counts_the_convolutions():
    import torch.nn as nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    assert X.cnn_macs(model, 8) == 8 * 8 * 4 * 3 * 9 + 4 * 8 * 8 * 2


def test_command_line_writes_a_record(tmp_path, capsys):
    out = tmp_path / "tiny.json"
    argv = ["--sizes", "40", "80", "--seeds", "0", "--max-steps", "2", "--batch-size", "16", "--test-size", "50",
            "--jobs", "1", "--models", "vit", "cnn", "--no-progress", "--out", str(out)]
    record = X.main(argv)
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["command"] == "python -m vit_lessons.experiments " + " ".join(argv)
    assert {(r["model"], r["size"]) for r in saved["results"]} == {("vit", 40), ("vit", 80), ("cnn", 40), ("cnn", 80)}
    for key in ("python", "torch", "numpy", "cpu_count", "load_average_before", "total_seconds", "budget_rule"):
        assert key in saved, key
    assert set(saved["models"]) == {"vit", "cnn"}
    assert "vit" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--max-steps=0"):
        X.main(["--max-steps", "0"])


def test_the_learning_rate_search_scores_every_rate_on_the_validation_split(tmp_path, monkeypatch):
    monkeypatch.setattr(X, "TUNING", dict(size=40, seed=0, lrs=(1e-3, 3e-3), models=("vit", "cnn")))
    out = tmp_path / "tuning.json"
    record = X.main(["--tune", "--max-steps", "2", "--batch-size", "16", "--test-size", "50", "--jobs", "1",
                     "--no-progress", "--out", str(out)])
    expected = {(m, lr) for m in ("vit", "cnn") for lr in (1e-3, 3e-3)}
    assert {(r["model"], r["lr"]) for r in record["results"]} == expected
    validation = X.held_out_images(dict(X.SWEEP, test_size=50), "validation")
    first = X.run_point("cnn", 40, 0, settings=dict(X.SWEEP, max_steps=2, batch_size=16, test_size=50), lr=3e-3,
                        split="validation")
    assert first == {**next(r for r in record["results"] if r["model"] == "cnn" and r["lr"] == 3e-3),
                     "seconds": first["seconds"]}
    assert len(validation) == 50 and json.loads(out.read_text())["tuning"]["lrs"] == [1e-3, 3e-3]


def test_best_lrs_takes_each_models_best_validation_accuracy():
    results = [dict(model=m, lr=lr, test_accuracy=acc) for m, lr, acc in
               [("vit", 3e-4, 0.5), ("vit", 1e-3, 0.7), ("vit", 3e-3, 0.2), ("cnn", 3e-4, 0.9), ("cnn", 1e-3, 0.8)]]
    assert X.best_lrs({"results": results}) == {"vit": 1e-3, "vit-sincos": 1e-3, "cnn": 3e-4}


def test_the_sweeps_learning_rates_are_the_recorded_searchs_best():
    tuning = X.load_record("data_scaling_tuning")
    assert X.SWEEP["lr"] == X.best_lrs(tuning)
    assert tuning["command"] == "python -m vit_lessons.experiments --tune --out " \
                                "vit_lessons/records/data_scaling_tuning.json --no-progress"
    assert {(r["model"], r["lr"]) for r in tuning["results"]} == \
        {(m, lr) for m in X.TUNING["models"] for lr in X.TUNING["lrs"]}
    # the search's data, validation split and budget rule are the sweep's
    same = {k: v for k, v in X._jsonable(X.SWEEP).items() if k not in ("lr", "sizes")}
    assert {k: v for k, v in tuning["settings"].items() if k not in ("lr", "sizes")} == same
    assert all(r["steps"] == X.steps_for(X.TUNING["size"]) and r["seconds"] > 0 for r in tuning["results"])
    assert tuning["tuning"] == X._jsonable(X.TUNING)


def test_the_shipped_record_is_complete_and_made_by_its_command():
    record = X.load_record("data_scaling")
    settings = record["settings"]
    assert X._jsonable(X.SWEEP) == settings
    args = shlex.split(record["command"])
    assert args[:3] == ["python", "-m", "vit_lessons.experiments"] and "--out" in args
    assert [a for a in args[3:] if a.startswith("--")] == ["--out", "--no-progress"]   # the defaults, no override
    expected = set(X.plan(X.SWEEP))
    assert {(r["model"], r["size"], r["seed"]) for r in record["results"]} == expected
    assert len(record["results"]) == len(expected)
    for r in record["results"]:
        assert r["steps"] == X.steps_for(r["size"]) and 0 <= r["test_accuracy"] <= 1 and r["seconds"] > 0
    summary = X.summary(record)
    assert all(point["runs"] == len(settings["seeds"]) >= 2 for by_size in summary.values()
               for point in by_size.values())
    assert record["models"] == X.model_sizes()
    # the chapter's live point, recorded for every seed by the same command
    small = min(settings["sizes"])
    assert sorted(r["seed"] for r in record["check"]) == list(settings["seeds"])
    for r in record["check"]:
        assert (r["model"], r["size"], r["check"]) == (X.CHECK["model"], small, True)
        assert r["steps"] == X.steps_for(small, dict(X.SWEEP, min_steps=X.CHECK["min_steps"])) < X.steps_for(small)
    with pytest.raises(ValueError, match="no record"):
        X.load_record("nope")
