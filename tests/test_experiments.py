"""The data-scaling experiment: one tiny point of the same code, the command line and its record, and the
shipped record (complete, consistent with the code's plan, made by the recorded command)."""

import json
import shlex

import numpy as np
import pytest

from vit_lessons import experiments as X

TINY = dict(X.SWEEP, sizes=(40, 80), seeds=(0,), max_steps=3, batch_size=16, test_size=50)


def test_budget_rule_is_passes_capped_by_steps():
    assert X.steps_for(500) == min(X.SWEEP["max_steps"], -(-X.SWEEP["epochs"] * 500 // X.SWEEP["batch_size"]))
    assert X.steps_for(max(X.SWEEP["sizes"])) == X.SWEEP["max_steps"]
    assert X.steps_for(1, dict(X.SWEEP, epochs=1, batch_size=64)) == 1
    assert [X.steps_for(s) for s in X.SWEEP["sizes"]] == sorted(X.steps_for(s) for s in X.SWEEP["sizes"])


@pytest.mark.parametrize("model", sorted(X.MODEL_SIZES))
def test_a_tiny_point_runs_and_is_deterministic(model):
    a, b = (X.run_point(model, 40, 0, settings=TINY) for _ in range(2))
    assert a == {**b, "seconds": a["seconds"]}                       # same seed, same result
    assert a["model"] == model and a["size"] == 40 and a["steps"] == 3
    assert 0.0 <= a["test_accuracy"] <= 1.0 and 0.0 <= a["train_accuracy"] <= 1.0
    assert a["test_accuracy"] * TINY["test_size"] == pytest.approx(round(a["test_accuracy"] * TINY["test_size"]))


def test_run_point_validates():
    with pytest.raises(ValueError, match="model='resnet'"):
        X.run_point("resnet", 40, 0, settings=TINY)
    with pytest.raises(ValueError, match="size=81"):
        X.run_point("cnn", 81, 0, settings=TINY)


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


def test_the_shipped_record_is_complete_and_made_by_its_command():
    record = X.load_record("data_scaling")
    settings = record["settings"]
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in X.SWEEP.items()} == settings
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
    with pytest.raises(ValueError, match="no record"):
        X.load_record("nope")
