"""Why a ViT needs data: held-out accuracy against training-set size, the tiny ViT against a small CNN.

The paper's central result (its Figures 3 and 4) in miniature.  On the colour-free shapes
(``make_shapes(..., shape_only=True)``: neither colour nor area tells the class) the tiny ViT of chapter 8, the
same ViT with fixed 2-D sinusoidal positions, and a small CNN of similar size and compute are trained
on nested training sets of growing size, with one budget rule for all of them (a fixed number of
passes over the training set), and scored on one fixed held-out set:

    python -m vit_lessons.experiments --tune --out vit_lessons/records/data_scaling_tuning.json
    python -m vit_lessons.experiments --out vit_lessons/records/data_scaling.json

The first tries each model's peak learning rate on a validation set (the same grid and the same budget
for every model) and records what it found; :data:`SWEEP` takes the best of each.  The second writes
the record (the exact command, the settings, every run's accuracy and seconds, the versions and the
machine) that the chapter plots.  ``run_point`` trains one (model, size, seed) point; the chapter
re-runs one small point live and checks it against the record.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

import vit_lessons as V
from vit_lessons import train as T
from vit_lessons.checks import check_int, require
from vit_lessons.data import Shapes

RECORDS_DIR = Path(__file__).parent / "records"

# The budget rule, the same for every model: EPOCHS passes over the training set in steps of BATCH_SIZE
# images, but at least MIN_STEPS steps (a small set is seen many times: on the shape-only data the ViT
# leaves its first plateau only after a few hundred steps, so a small set must not be denied them) and at
# most MAX_STEPS (a generous cap, above what the sweep's sizes need); a linear warm-up over the first
# WARMUP_FRACTION of the steps, then cosine decay.  The peak learning rate of the ViT and of the CNN is the
# best of TUNING's grid on the validation set (records/data_scaling_tuning.json, trained by the same budget
# rule); the ViT with sinusoidal positions is not tuned and takes the ViT's rate.  The shape-only data
# without distractors and with larger shapes (DATA): at 32 x 32 pixels and 4 x 4 patches, the default
# shapes span only three to five patches.
DATA = dict(clutter=0, radius=(0.25, 0.4))
SWEEP = dict(sizes=(250, 500, 1000, 2000), seeds=(0, 1), epochs=15, min_steps=600, max_steps=4000, batch_size=32,
             lr={"vit": 3e-4, "vit-sincos": 3e-4, "cnn": 3e-3}, warmup_fraction=0.1, weight_decay=0.05,
             data=DATA, chunk=250, data_seed=1, test_seed=2, validation_seed=3, test_size=2000, cnn_width=40)
TUNING = dict(size=1000, seed=0, lrs=(1e-4, 3e-4, 1e-3, 3e-3), models=("vit", "cnn"))
# The point the chapter re-runs while the book builds (in well under 20 s): the CNN on the smallest set by
# the budget rule without its floor (15 passes over 250 images: 118 steps), recorded with the sweep for
# every seed.
CHECK = dict(model="cnn", min_steps=1)
# the ViT with given positions is run at the largest size only: it answers one question (do the learned
# positions cost the data?) where the ViT learns, at a fifth of the sweep's time
MODEL_SIZES = {"vit": None, "cnn": None, "vit-sincos": slice(-1, None)}


def steps_for(size: int, settings: dict = SWEEP) -> int:
    """The budget rule: ``epochs`` passes over ``size`` images in steps of ``batch_size``, at least
    ``min_steps`` (1 in a record without it) and at most ``max_steps`` steps."""
    passes = math.ceil(settings["epochs"] * size / settings["batch_size"])
    return max(1, min(settings["max_steps"], max(settings.get("min_steps", 1), passes)))


def vit_config():
    """The tiny ViT of chapter 8 (32 x 32 images, 4 x 4 patches, D = 64, 4 blocks, CLS pooling)."""
    return T.shapes_config("cls")


def sincos_init(cfg, seed: int) -> dict:
    """Training initialisation with E_pos replaced by the fixed 2-D sinusoidal table (the CLS row zero)."""
    params = V.init_params_for_training(cfg, seed)
    grid = V.sincos_2d(cfg.grid_size, cfg.d_model)
    params["pos_embed"] = np.concatenate([np.zeros((cfg.num_prefix_tokens, cfg.d_model), np.float32), grid])
    return params


def cnn_macs(model, image_size: int = 32) -> int:
    """Multiply-accumulates of one (image_size x image_size x 3) image through the CNN's convolutions
    and its linear head (what :func:`vit_lessons.flops` counts for the ViT: the products, not the
    element-wise work)."""
    import torch

    total = []

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            total.append(output[0].numel() * module.in_channels * math.prod(module.kernel_size) // module.groups)
        elif isinstance(module, torch.nn.Linear):
            total.append(module.in_features * module.out_features)

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, image_size, image_size))
    for h in hooks:
        h.remove()
    return int(sum(total))


def model_sizes(settings: dict = SWEEP) -> dict:
    """name -> {"params": learnable scalars, "macs": multiply-accumulates per image} of the sweep's models."""
    cfg = vit_config()
    cnn = T.cnn_baseline(width=settings["cnn_width"])
    vit = {"params": V.num_params(cfg), "macs": V.flops(cfg)}
    # the sinusoidal table is fixed, not learnt
    sincos = {"params": vit["params"] - cfg.num_patches * cfg.d_model, "macs": vit["macs"]}
    return {"vit": vit, "vit-sincos": sincos,
            "cnn": {"params": sum(p.numel() for p in cnn.parameters()), "macs": cnn_macs(cnn)}}


def chunk_seed(data_seed: int, k: int) -> int:
    """The seed of chunk ``k`` of the training pool of ``data_seed`` (independent streams, one per chunk)."""
    return int(np.random.SeedSequence([data_seed, k]).generate_state(1)[0])


@cache
def _shapes(n: int, seed: int, data_items: tuple) -> Shapes:
    return V.make_shapes(n, seed, shape_only=True, **dict(data_items))


def _data_items(settings: dict) -> tuple:
    """``settings["data"]`` as a hashable tuple (a record's lists back to tuples)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in settings["data"].items()))


def _concat(parts: list[Shapes], n: int) -> Shapes:
    first = parts[0]
    return Shapes(images=np.concatenate([p.images for p in parts])[:n],
                  labels=np.concatenate([p.labels for p in parts])[:n],
                  masks=np.concatenate([p.masks for p in parts])[:n], class_names=first.class_names)


def training_images(size: int, settings: dict = SWEEP) -> Shapes:
    """The first ``size`` images of the shape-only training pool: chunks of ``settings["chunk"]`` images,
    chunk k drawn from :func:`chunk_seed` (data_seed, k), so a set holds the same images whatever the
    largest size of the sweep, and a small set draws only the chunks it uses."""
    chunk = settings["chunk"]
    parts = [_shapes(chunk, chunk_seed(settings["data_seed"], k), _data_items(settings))
             for k in range(math.ceil(size / chunk))]
    return _concat(parts, size)


def held_out_images(settings: dict = SWEEP, split: str = "test") -> Shapes:
    """The fixed held-out set of ``settings["test_size"]`` images: ``split`` "test" (the sweep's scores) or
    "validation" (the learning-rate search's: another seed, never the test set)."""
    if split not in ("test", "validation"):
        raise ValueError(f"split={split!r}: expected 'test' or 'validation'")
    return _shapes(settings["test_size"], settings[f"{split}_seed"], _data_items(settings))


def run_point(model: str, size: int, seed: int, settings: dict = SWEEP, threads: int | None = 1,
              lr: float | None = None, split: str = "test") -> dict:
    """Train ``model`` ("vit", "vit-sincos" or "cnn") on the first ``size`` shape-only training images
    with the budget rule and evaluate it on the held-out ``split``.  Deterministic in its arguments on one
    thread.  ``settings``: :data:`SWEEP` or a record's "settings"; ``lr``: a peak learning rate instead of
    ``settings["lr"][model]`` (the tuning's).

    Returns {"model", "size", "seed", "steps", "lr", "test_accuracy" (on ``split``), "train_accuracy"
    (the last 20 batches), "seconds" (the optimisation loop)}.
    """
    if model not in MODEL_SIZES:
        raise ValueError(f"model={model!r}: expected one of {sorted(MODEL_SIZES)}")
    size = check_int("size", size, 1, max(settings["sizes"]), why="the largest of settings['sizes']")
    seed = check_int("seed", seed, 0)
    steps = steps_for(size, settings)
    lr = settings["lr"][model] if lr is None else lr
    budget = dict(steps=steps, batch_size=settings["batch_size"], lr=lr, weight_decay=settings["weight_decay"],
                  warmup=math.ceil(settings["warmup_fraction"] * steps), seed=seed,
                  data=training_images(size, settings), threads=threads, progress=False)
    held_out = held_out_images(settings, split)
    if model == "cnn":
        run = T.train_cnn(width=settings["cnn_width"], **budget)
        with T.torch_settings(threads, flush_denormal=False):  # evaluated on the training's threads
            accuracy = T.evaluate_cnn(run.model, held_out)
    else:
        cfg = vit_config()
        if model == "vit-sincos":
            budget["init"] = sincos_init(cfg, seed)
            budget["trainable"] = set(budget["init"]) - {"pos_embed"}
        run = T.train(cfg, **budget)
        with T.torch_settings(threads, flush_denormal=False):
            accuracy = T.evaluate(run.params, cfg, held_out)
    return {"model": model, "size": size, "seed": seed, "steps": steps, "lr": lr, "test_accuracy": accuracy,
            "train_accuracy": float(np.mean(run.history["accuracy"][-20:])), "seconds": round(run.seconds, 2)}


def check_point(seed: int, settings: dict = SWEEP, threads: int | None = 1) -> dict:
    """:func:`run_point` of :data:`CHECK` (the chapter's live point) on the smallest of ``settings["sizes"]``
    with ``seed``."""
    return run_point(CHECK["model"], min(settings["sizes"]), seed, dict(settings, min_steps=CHECK["min_steps"]),
                     threads)


def plan(settings: dict = SWEEP, models=tuple(MODEL_SIZES)) -> list[tuple[str, int, int]]:
    """The (model, size, seed) points of a sweep, the most expensive first (so the workers finish together)."""
    points = [(m, size, seed) for m in models for size in settings["sizes"][MODEL_SIZES[m] or slice(None)]
              for seed in settings["seeds"]]
    return sorted(points, key=lambda p: (-steps_for(p[1], settings) * (1 if p[0] == "cnn" else 2), p))


def tuning_plan(tuning: dict | None = None) -> list[dict]:
    """The learning-rate search: every model of ``tuning`` (None: :data:`TUNING`) at every rate of its grid,
    one size and one seed, scored on the validation split (the same grid and budget for every model)."""
    tuning = TUNING if tuning is None else tuning
    return [dict(model=m, size=tuning["size"], seed=tuning["seed"], lr=lr, split="validation")
            for m in tuning["models"] for lr in tuning["lrs"]]


def best_lrs(record: dict) -> dict:
    """model -> the peak learning rate of the best validation accuracy in a tuning record (the ViT with
    sinusoidal positions takes the ViT's: the same model but for E_pos)."""
    best: dict = {}
    for r in record["results"]:
        if r["model"] not in best or r["test_accuracy"] > best[r["model"]]["test_accuracy"]:
            best[r["model"]] = r
    lrs = {m: r["lr"] for m, r in best.items()}
    return {"vit": lrs["vit"], "vit-sincos": lrs["vit"], "cnn": lrs["cnn"]}


def _run(job: tuple[dict, dict]) -> dict:
    point, settings = job
    if point.get("check"):
        return {**check_point(point["seed"], settings), "check": True}
    return run_point(**point, settings=settings)


def run_all(points: list[dict], settings: dict = SWEEP, jobs: int = 1, progress: bool = True) -> list[dict]:
    """:func:`run_point` of every point (its keyword arguments), ``jobs`` processes of one thread each;
    results in the points' order."""
    tqdm = require("tqdm.auto").tqdm
    work = [(p, settings) for p in points]
    if jobs == 1:
        return [_run(w) for w in tqdm(work, desc="sweep", disable=not progress)]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(tqdm(pool.map(_run, work), total=len(work), desc="sweep", disable=not progress))


def sweep(settings: dict = SWEEP, models=tuple(MODEL_SIZES), jobs: int = 1,
          progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Every point of :func:`plan` and :func:`check_point` of every seed, ``jobs`` processes of one thread
    each.  Returns (the plan's results in plan order, the check points' results)."""
    points = [dict(model=m, size=size, seed=seed) for m, size, seed in plan(settings, models)]
    points += [dict(check=True, seed=seed) for seed in settings["seeds"]]
    results = run_all(points, settings, jobs, progress)
    return [r for r in results if not r.get("check")], [r for r in results if r.get("check")]


def load_record(name: str = "data_scaling") -> dict:
    """The recorded result of ``python -m vit_lessons.experiments`` shipped in ``vit_lessons/records``."""
    path = RECORDS_DIR / f"{name}.json"
    if not path.exists():
        raise ValueError(f"name={name!r}: no record {path.name} (expected one of "
                         f"{sorted(p.stem for p in RECORDS_DIR.glob('*.json'))})")
    return json.loads(path.read_text())


def summary(record: dict) -> dict:
    """model -> size -> {"mean", "min", "max", "runs"} of the recorded test accuracies over the seeds."""
    out: dict = {}
    for r in record["results"]:
        out.setdefault(r["model"], {}).setdefault(r["size"], []).append(r["test_accuracy"])
    return {m: {s: {"mean": float(np.mean(a)), "min": min(a), "max": max(a), "runs": len(a)}
                for s, a in sorted(by_size.items())} for m, by_size in out.items()}


# ---- command line ----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vit_lessons.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=tuple(MODEL_SIZES), default=list(MODEL_SIZES))
    p.add_argument("--sizes", nargs="+", type=int, default=list(SWEEP["sizes"]))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SWEEP["seeds"]))
    for name in ("epochs", "max_steps", "batch_size", "test_size"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=SWEEP[name])
    p.add_argument("--tune", action="store_true",
                   help=f"the learning-rate search instead of the sweep: {TUNING['models']} at {TUNING['size']} "
                        f"images, rates {TUNING['lrs']}, scored on the validation split")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (one thread each)")
    p.add_argument("--out", default=None, help="where to write the JSON record")
    p.add_argument("--no-progress", action="store_true")
    return p


def _jsonable(value):
    """Tuples as lists, also inside dicts (what json.dumps then json.loads gives back)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _settings(a: argparse.Namespace) -> dict:
    for name in ("epochs", "max_steps", "batch_size", "test_size", "jobs"):
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(a, name)}: expected a positive int")
    if min(a.sizes) < 1 or min(a.seeds) < 0:
        raise ValueError(f"--sizes={a.sizes} --seeds={a.seeds}: expected sizes >= 1 and seeds >= 0")
    settings = dict(SWEEP, sizes=tuple(sorted(set(a.sizes))), seeds=tuple(sorted(set(a.seeds))), epochs=a.epochs,
                    max_steps=a.max_steps, batch_size=a.batch_size, test_size=a.test_size)
    if a.tune:   # the search's one size must be a size of the settings
        settings["sizes"] = tuple(sorted({*settings["sizes"], TUNING["size"]}))
    return settings


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep (or with ``--tune`` the learning-rate search), print one line per point, and write the
    record when ``--out`` is given."""
    import torch

    argv = sys.argv[1:] if argv is None else list(argv)
    a = _parser().parse_args(argv)
    settings = _settings(a)
    load_before, start = os.getloadavg(), time.perf_counter()
    check = []
    if a.tune:
        results = run_all(tuning_plan(), settings, jobs=a.jobs, progress=not a.no_progress)
    else:
        results, check = sweep(settings, tuple(a.models), jobs=a.jobs, progress=not a.no_progress)
    record = {
        "command": shlex.join(["python", "-m", "vit_lessons.experiments", *argv]),
        "settings": _jsonable(settings),
        "budget_rule": f"{settings['epochs']} passes over the training set in steps of {settings['batch_size']} "
                       f"images, at least {settings['min_steps']} and at most {settings['max_steps']} steps; "
                       f"the same for every model",
        "models": {m: s for m, s in model_sizes(settings).items() if m in a.models},
        "results": results,
        "total_seconds": round(time.perf_counter() - start, 1),
        "jobs": a.jobs,
        "threads_per_job": 1,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if a.tune:
        record["tuning"] = _jsonable(TUNING)
    else:
        record["check"] = check
    for r in results + check:
        print(f"{r['model']:<11}{r['size']:>7}{r['seed']:>3}{r['steps']:>5}{r['lr']:>8.0e}{r['test_accuracy']:>8.3f}"
              f"{r['train_accuracy']:>7.2f}{r['seconds']:>8.1f} s")
    print(f"total {record['total_seconds']} s on {a.jobs} processes")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
