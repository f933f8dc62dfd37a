"""Why a ViT needs data: held-out accuracy against training-set size, the tiny ViT against a small CNN.

The paper's central result (its Figures 3 and 4) in miniature.  On the colour-free shapes
(``make_shapes(..., shape_only=True)``: neither colour nor area tells the class) the tiny ViT of chapter 8, the
same ViT with fixed 2-D sinusoidal positions, and a small CNN of similar size and compute are trained
on nested training sets of growing size, with one budget rule for all of them, and scored on one
fixed held-out set:

    python -m vit_lessons.experiments --out vit_lessons/records/data_scaling.json

writes the record (the exact command, the settings, every run's accuracy and seconds, the versions and
the machine) that the chapter plots.  ``run_point`` trains one (model, size, seed) point; the chapter
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
from vit_lessons.data import Shapes

RECORDS_DIR = Path(__file__).parent / "records"

# The budget rule, the same for every model: EPOCHS passes over the training set, at most MAX_STEPS
# steps of BATCH_SIZE images (so the small sets get fewer steps, the large ones fewer passes).
SWEEP = dict(sizes=(500, 1000, 2000, 4000, 8000, 16000), seeds=(0, 1), epochs=20, max_steps=300, batch_size=64,
             lr=1e-3, warmup=20, weight_decay=0.05, data_seed=1, test_seed=2, test_size=2000, cnn_width=40)
# the ViT with given positions is run at every other size: it answers one question (do the learned
# positions cost the data?), at a third of the sweep's time
MODEL_SIZES = {"vit": None, "cnn": None, "vit-sincos": slice(None, None, 2)}


def steps_for(size: int, settings: dict = SWEEP) -> int:
    """The budget rule: ``epochs`` passes over ``size`` images, capped at ``max_steps`` (at least one step)."""
    return max(1, min(settings["max_steps"], math.ceil(settings["epochs"] * size / settings["batch_size"])))


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


@cache
def _pool(n: int, seed: int) -> Shapes:
    return V.make_shapes(n, seed, shape_only=True)


def _first(data: Shapes, n: int) -> Shapes:
    return Shapes(images=data.images[:n], labels=data.labels[:n], masks=data.masks[:n], class_names=data.class_names)


def run_point(model: str, size: int, seed: int, settings: dict = SWEEP, threads: int | None = 1) -> dict:
    """Train ``model`` ("vit", "vit-sincos" or "cnn") on the first ``size`` shape-only training images
    with the budget rule and evaluate it on the held-out set.  Deterministic in its arguments on one thread.
    ``settings``: :data:`SWEEP` or a record's "settings".

    Returns {"model", "size", "seed", "steps", "test_accuracy", "train_accuracy" (the last 20 batches),
    "seconds" (the optimisation loop)}.
    """
    if model not in MODEL_SIZES:
        raise ValueError(f"model={model!r}: expected one of {sorted(MODEL_SIZES)}")
    largest = max(settings["sizes"])
    if not (isinstance(size, int) and 1 <= size <= largest):
        raise ValueError(f"size={size!r}: expected an int in [1, {largest}] (the largest of settings['sizes'])")
    data = _first(_pool(largest, settings["data_seed"]), size)
    test = _pool(settings["test_size"], settings["test_seed"])
    budget = dict(steps=steps_for(size, settings), batch_size=settings["batch_size"], lr=settings["lr"],
                  warmup=min(settings["warmup"], steps_for(size, settings)), weight_decay=settings["weight_decay"],
                  seed=seed, data=data, threads=threads, progress=False)
    if model == "cnn":
        run = T.train_cnn(width=settings["cnn_width"], **budget)
        accuracy = T.evaluate_cnn(run.model, test)
    else:
        cfg = vit_config()
        if model == "vit-sincos":
            budget["init"] = sincos_init(cfg, seed)
            budget["trainable"] = set(budget["init"]) - {"pos_embed"}
        run = T.train(cfg, **budget)
        accuracy = T.evaluate(run.params, cfg, test)
    return {"model": model, "size": size, "seed": seed, "steps": budget["steps"], "test_accuracy": accuracy,
            "train_accuracy": float(np.mean(run.history["accuracy"][-20:])), "seconds": round(run.seconds, 2)}


def plan(settings: dict = SWEEP, models=tuple(MODEL_SIZES)) -> list[tuple[str, int, int]]:
    """The (model, size, seed) points of a sweep, the most expensive first (so the workers finish together)."""
    points = [(m, size, seed) for m in models for size in settings["sizes"][MODEL_SIZES[m] or slice(None)]
              for seed in settings["seeds"]]
    return sorted(points, key=lambda p: (-steps_for(p[1], settings) * (1 if p[0] == "cnn" else 2), p))


def _run(point_and_settings):
    point, settings = point_and_settings
    return run_point(*point, settings=settings)


def sweep(settings: dict = SWEEP, models=tuple(MODEL_SIZES), jobs: int = 1, progress: bool = True) -> list[dict]:
    """Every point of :func:`plan`, ``jobs`` processes of one thread each; results in plan order."""
    from tqdm.auto import tqdm

    points = plan(settings, models)
    work = [(p, settings) for p in points]
    if jobs == 1:
        return [_run(w) for w in tqdm(work, desc="sweep", disable=not progress)]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(tqdm(pool.map(_run, work), total=len(work), desc="sweep", disable=not progress))


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
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (one thread each)")
    p.add_argument("--out", default=None, help="where to write the JSON record")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep, print one line per point, and write the record when ``--out`` is given."""
    import torch

    argv = sys.argv[1:] if argv is None else list(argv)
    a = _parser().parse_args(argv)
    for name in ("epochs", "max_steps", "batch_size", "test_size", "jobs"):
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(a, name)}: expected a positive int")
    if min(a.sizes) < 1 or min(a.seeds) < 0:
        raise ValueError(f"--sizes={a.sizes} --seeds={a.seeds}: expected sizes >= 1 and seeds >= 0")
    settings = dict(SWEEP, sizes=tuple(sorted(set(a.sizes))), seeds=tuple(sorted(set(a.seeds))), epochs=a.epochs,
                    max_steps=a.max_steps, batch_size=a.batch_size, test_size=a.test_size)
    load_before, start = os.getloadavg(), time.perf_counter()
    results = sweep(settings, tuple(a.models), jobs=a.jobs, progress=not a.no_progress)
    record = {
        "command": shlex.join(["python", "-m", "vit_lessons.experiments", *argv]),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "budget_rule": f"{settings['epochs']} passes over the training set, at most {settings['max_steps']} steps "
                       f"of {settings['batch_size']} images; the same for every model",
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
    for r in results:
        print(f"{r['model']:<11}{r['size']:>7}{r['seed']:>3}{r['steps']:>5}{r['test_accuracy']:>8.3f}"
              f"{r['train_accuracy']:>7.2f}{r['seconds']:>8.1f} s")
    print(f"total {record['total_seconds']} s on {a.jobs} processes")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
