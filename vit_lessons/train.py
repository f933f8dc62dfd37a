"""Chapter 8: training a small ViT on the synthetic shapes, through the very ``forward`` the book builds.

There is no second model definition: the parameters are the canonical flat dict, turned into
torch leaves with ``to_torch(..., requires_grad=True)``, and autograd differentiates
``vit_lessons.forward``.  AdamW, linear warm-up then cosine decay, optional label smoothing,
a ``tqdm`` bar with the running loss and accuracy, seeded.

    python -m vit_lessons.train --pool cls --out shapes-cls.safetensors

writes the checkpoint (safetensors, the ``ViTConfig`` in its metadata) and, next to it, a JSON
file with the exact command line, the seeds, the training seconds and the accuracy on a freshly
generated held-out split.  ``train_cnn`` trains a small convolutional network on the same data:
the comparison baseline of the chapter, not part of the ViT.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import to_torch
from .checks import check_int, check_number, check_shape, require
from .config import ViTConfig, check_config
from .data import CLASS_NAMES, Shapes, check_shapes, make_shapes
from .model import check_params, forward, init_params_for_training

# The recipe of the shipped checkpoints (``python -m vit_lessons.train`` defaults).  One thread: on a
# 2-core machine where anything else runs, two torch threads wait on each other (measured 2.4x slower
# per step than one thread); the results agree to float rounding.
RECIPE = dict(image_size=32, patch_size=4, d_model=64, num_heads=4, d_ff=128, num_layers=4)
TRAIN_DEFAULTS = dict(steps=60, batch_size=128, lr=3e-3, weight_decay=0.05, warmup=10, label_smoothing=0.0,
                      seed=0, data_seed=1, test_seed=2, test_size=2000, threads=1)


def shapes_config(pool: str = "cls", **changes) -> ViTConfig:
    """The ViT of the shipped checkpoints: 32 x 32 images, 4 x 4 patches (an 8 x 8 grid), D = 64,
    4 heads, F = 128, 4 blocks, one logit per class of :func:`vit_lessons.data.make_shapes`."""
    fields = dict(RECIPE, num_classes=len(CLASS_NAMES), pool=pool, name=f"shapes-{pool}")
    fields.update(changes)
    return ViTConfig(**fields)


@dataclass
class TrainResult:
    """What a training run returns.

    params  : the trained parameters, canonical layout, numpy float32 (for a ViT; None for the CNN baseline).
    history : per step lists "step", "loss" (cross-entropy of the batch), "accuracy" (of the batch), "lr".
    seconds : wall time of the optimisation loop (data generation excluded; see ``data_seconds``).
    data_seconds : wall time spent generating the training images.
    model   : the torch module for the CNN baseline (None for the ViT).
    """

    params: dict | None
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    data_seconds: float = 0.0
    model: object = None


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Learning rate of ``step`` (0-based): linear warm-up over ``warmup`` steps to ``lr``, then a
    cosine decay that would reach 0 at step ``steps``, one past the last (step ``steps - 1`` still
    has a small positive rate)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * lr * (1.0 + math.cos(math.pi * progress))


def fold_standardisation(params: dict, mean, std) -> dict:
    """Parameters that take raw images x and compute what ``params`` computes on (x - mean) / std.

    The patch embedding is linear, so the per-channel standardisation folds into it exactly:
    W'[d, c, i, j] = W[d, c, i, j] / std[c] and b'[d] = b[d] - sum_{c,i,j} W[d, c, i, j] mean[c] / std[c].
    mean, std : (C,) per-channel statistics.  Exact only without padding (zero padding would be
    zero in the standardised images, not in the raw ones).
    """
    from .backend import namespace

    W, b = params["patch_embed.weight"], params["patch_embed.bias"]
    xp = namespace(W)
    scale = xp.reshape(xp.asarray(1.0 / np.asarray(std, np.float32)), (1, -1, 1, 1))
    shift = xp.reshape(xp.asarray(np.asarray(mean, np.float32)), (1, -1, 1, 1))
    out = dict(params)
    out["patch_embed.weight"] = W * scale
    out["patch_embed.bias"] = b - xp.sum(W * scale * shift, axis=(1, 2, 3))
    return out


OPTIMIZERS = ("adamw", "sgd")


def _optimizer(parameters, optimizer: str, lr: float, weight_decay: float, momentum: float):
    """AdamW (pre-training) or SGD with momentum (the paper's fine-tuning), weight decay on the
    parameters of two or more axes only: the weight matrices, the patch-embedding kernel and the
    positional embedding are decayed; the biases, LayerNorm gains and the CLS token (one axis each)
    are not.  (timm and DeiT also exempt the positional embedding, by name: ``no_weight_decay()``.)"""
    import torch

    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))


def _fit(forward_fn, parameters, data: Shapes, *, steps, batch_size, lr, weight_decay, warmup, label_smoothing,
         seed, device, progress, desc, optimizer="adamw", momentum=0.9, clip_norm=None) -> tuple[dict, float]:
    """The training loop shared by the ViT and the CNN baseline: returns (history, seconds).

    clip_norm : if given, the gradient of all ``parameters`` together is scaled down to this global
                L2 norm whenever it is longer; ``history["grad_norm"]`` is the norm before clipping."""
    import torch
    import torch.nn.functional as F
    tqdm = require("tqdm.auto").tqdm

    images = torch.from_numpy(data.images).to(device)
    labels = torch.from_numpy(data.labels).to(device)
    n = len(labels)
    opt = _optimizer(parameters, optimizer, lr, weight_decay, momentum)
    order = np.random.default_rng(seed).permutation(n)
    history = {"step": [], "loss": [], "accuracy": [], "lr": [], "grad_norm": []}
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True)
    for step in bar:
        at = (step * batch_size) % n
        if at + batch_size > n:  # a new pass over the data: reshuffle
            order = np.random.default_rng(seed + step).permutation(n)
        idx = torch.from_numpy(order[at:at + batch_size] if at + batch_size <= n else order[:batch_size])
        x, y = images[idx.to(device)], labels[idx.to(device)]
        rate = lr_at(step, steps, lr, warmup)
        for group in opt.param_groups:
            group["lr"] = rate
        logits = forward_fn(x)
        loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(parameters, math.inf if clip_norm is None else clip_norm)
        opt.step()
        acc = (logits.argmax(-1) == y).float().mean().item()
        history["step"].append(step)
        history["loss"].append(loss.item())
        history["accuracy"].append(acc)
        history["lr"].append(rate)
        history["grad_norm"].append(norm.item())
        if progress:
            k = min(20, len(history["loss"]))
            bar.set_postfix(loss=f"{np.mean(history['loss'][-k:]):.3f}", acc=f"{np.mean(history['accuracy'][-k:]):.3f}")
    bar.close()
    return history, time.perf_counter() - start


@contextmanager
def torch_settings(threads: int | None = None, flush_denormal: bool = True):
    """Inside the ``with`` block, torch uses ``threads`` CPU threads (None: as it was) and flushes
    subnormal floats to zero (tiny initial weights otherwise meet slow subnormal arithmetic; the
    shipped checkpoints were trained so); afterwards both are what they were before.

    Both settings are process-wide, so training sets them for its own duration only: a notebook
    that calls :func:`train` finds its kernel as it left it.
    """
    import torch

    if threads is not None:
        check_int("threads", threads, 1)
    before = torch.get_num_threads(), _flushes_denormals()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        torch.set_flush_denormal(flush_denormal)
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.set_flush_denormal(before[1])


def _flushes_denormals() -> bool:
    """Whether torch flushes subnormal floats to zero now (torch can set this, not report it: a
    subnormal float32 survives a multiplication by 1 unless the CPU flushes it)."""
    import torch

    return torch.tensor(1e-40, dtype=torch.float32).mul(1.0).item() == 0.0


def check_optimisation(*, lr, weight_decay, momentum=0.9, label_smoothing=0.0, clip_norm=None) -> None:
    """Raise ``ValueError`` naming the first bad setting of the optimiser: ``lr`` >= 0 (0: nothing moves, a
    check of the set-up), ``weight_decay`` >= 0, ``momentum`` in [0, 1) (SGD's; 1 or more diverges),
    ``label_smoothing`` in [0, 1), ``clip_norm`` > 0 or None.  All finite numbers."""
    check_number("lr", lr, 0.0)
    check_number("weight_decay", weight_decay, 0.0)
    check_number("momentum", momentum, 0.0, 1.0, high_open=True)
    check_number("label_smoothing", label_smoothing, 0.0, 1.0, high_open=True)
    if clip_norm is not None:
        check_number("clip_norm", clip_norm, 0.0, low_open=True)


def _training_data(data: Shapes | None, *, steps, batch_size, warmup, seed, data_seed, image_size, device):
    """The set-up :func:`train` and :func:`train_cnn` share: the schedule's arguments checked, the
    device checked, and the training images (``steps * batch_size`` fresh ones of ``data_seed``
    unless ``data`` is given).  Returns (data, seconds spent generating it)."""
    import torch

    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_int("warmup", warmup, 0, steps, why="at most steps")
    check_int("seed", seed, 0)
    if data is not None:
        check_shapes(data)
    if not (isinstance(device, str) and device.split(":")[0] in ("cpu", "cuda", "mps")):
        raise ValueError(f"device={device!r}: expected 'cpu' or 'cuda' (or 'cuda:N', 'mps')")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available here (use 'cpu')")
    t0 = time.perf_counter()
    if data is None:
        data = make_shapes(steps * batch_size, data_seed, image_size=image_size)
    return data, time.perf_counter() - t0


def train(cfg: ViTConfig, *, steps: int = TRAIN_DEFAULTS["steps"], batch_size: int = TRAIN_DEFAULTS["batch_size"],
          lr: float = TRAIN_DEFAULTS["lr"], weight_decay: float = TRAIN_DEFAULTS["weight_decay"],
          warmup: int = TRAIN_DEFAULTS["warmup"], label_smoothing: float = TRAIN_DEFAULTS["label_smoothing"],
          seed: int = TRAIN_DEFAULTS["seed"], data_seed: int = TRAIN_DEFAULTS["data_seed"],
          data: Shapes | None = None, standardise: bool = True, device: str = "cpu", threads: int | None = None,
          progress: bool = True, compile: bool = False, init: dict | None = None, trainable=None,
          optimizer: str = "adamw", momentum: float = 0.9, clip_norm: float | None = None) -> TrainResult:
    """Train a ViT with config ``cfg`` on the synthetic shapes; returns a :class:`TrainResult`
    (``.params`` numpy float32, ``.history`` per-step loss/accuracy/lr for plotting, ``.seconds``).

    cfg        : the model; ``cfg.image_size`` must be square and ``cfg.num_classes`` equal the classes.
    steps      : optimisation steps; each sees ``batch_size`` images.
    lr         : peak learning rate, reached after ``warmup`` steps, then cosine decay towards 0 (:func:`lr_at`).
    seed       : initialisation and batch order (local generators: no global seed is touched).
    data_seed  : seed of the training images (``steps * batch_size`` fresh images) unless ``data`` is given.
    data       : a :class:`Shapes` to train on instead.
    standardise: train on per-channel standardised images (raw pixels in [0, 1] all share one sign, which
                 can slow gradient descent down) and fold the standardisation into the patch embedding at the end
                 (:func:`fold_standardisation`), so the returned parameters take raw images.
    device     : "cpu" or "cuda"; threads: torch CPU threads while training (None leaves torch's
                 setting; see :func:`torch_settings`).
    compile    : train through ``torch.compile(forward)``, the same function compiled (``.seconds``
                 includes the compilation).  For long runs and large models; the 60-step recipe is
                 faster without it (``benchmarks/train_compile.py`` measures both).
    init       : parameters to start from (canonical layout, taking raw images, e.g. a checkpoint's)
                 instead of :func:`init_params_for_training`; ``seed`` then only orders the batches.
    trainable  : the names of the parameters to train (None: all); the others stay frozen (left out of
                 the optimiser, so they come back exactly as they went in).  With a frozen patch
                 embedding the images are not standardised (the standardisation folds into it).
    optimizer  : "adamw" (the shipped recipe) or "sgd" (with ``momentum``, the paper's fine-tuning).
    clip_norm  : scale the gradient down to this global L2 norm when it is longer (None: no clipping).
    """
    import torch

    check_optimisation(lr=lr, weight_decay=weight_decay, momentum=momentum, label_smoothing=label_smoothing,
                       clip_norm=clip_norm)
    start, names, standardise = _start(cfg, seed, init, trainable, optimizer, standardise)
    with torch_settings(threads):
        data, data_seconds = _training_data(data, steps=steps, batch_size=batch_size, warmup=warmup, seed=seed,
                                            data_seed=data_seed, image_size=cfg.image_size[0], device=device)
        _check_data(data, cfg)
        mean, std, data = _standardised(data, standardise)
        if init is not None and standardise:  # what computes on standardised images what init does on raw ones
            start = fold_standardisation(start, -mean / std, 1.0 / std)
        params = to_torch(start, dtype=torch.float32, device=device)
        leaves = [v.requires_grad_(True) for k, v in params.items() if k in names]
        step = torch.compile(forward, fullgraph=True) if compile else forward
        history, seconds = _fit(lambda x: step(params, x, cfg), leaves, data, steps=steps, batch_size=batch_size,
                                lr=lr, weight_decay=weight_decay, warmup=warmup, label_smoothing=label_smoothing,
                                seed=seed, device=device, progress=progress, desc=f"ViT ({cfg.pool})",
                                optimizer=optimizer, momentum=momentum, clip_norm=clip_norm)
    trained = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
    if standardise:
        trained = {k: v.astype(np.float32) for k, v in fold_standardisation(trained, mean, std).items()}
    return TrainResult(params=trained, history=history, seconds=seconds, data_seconds=data_seconds)


def _standardised(data: Shapes, standardise: bool) -> tuple[np.ndarray, np.ndarray, Shapes]:
    """(mean (C,), std (C,), the data standardised per channel); mean 0 and std 1 without ``standardise``."""
    channels = data.images.shape[-1]
    mean = data.images.mean(axis=(0, 1, 2)) if standardise else np.zeros(channels, np.float32)
    std = data.images.std(axis=(0, 1, 2)) if standardise else np.ones(channels, np.float32)
    return mean, std, Shapes(images=(data.images - mean) / std, labels=data.labels, masks=data.masks,
                             class_names=data.class_names)


def _check_data(data: Shapes, cfg: ViTConfig) -> None:
    """Raise ``ValueError`` unless ``data`` has images of ``cfg``'s size and one class per output."""
    H, W = cfg.image_size
    check_shape("data.images", data.images, ("N", H, W, cfg.channels), why="cfg.image_size and cfg.channels")
    if cfg.num_classes != len(data.class_names):
        raise ValueError(f"cfg.num_classes={cfg.num_classes}: expected {len(data.class_names)} "
                         f"(the classes {data.class_names})")


def _start(cfg: ViTConfig, seed: int, init: dict | None, trainable, optimizer: str,
           standardise: bool) -> tuple[dict, set, bool]:
    """The options of :func:`train`, checked: returns (the starting parameters, numpy: ``init`` or a
    fresh :func:`init_params_for_training`; the names to train; whether to standardise the images)."""
    check_config(cfg)
    if cfg.image_size[0] != cfg.image_size[1]:
        raise ValueError(f"cfg.image_size={cfg.image_size}: the shapes data are square")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: expected one of {OPTIMIZERS}")
    if isinstance(trainable, str):
        raise ValueError(f"trainable={trainable!r}: expected a collection of parameter names, e.g. "
                         f"('head.weight', 'head.bias'), not one string")
    if init is not None:
        check_params(init, cfg)
    start = init_params_for_training(cfg, seed) if init is None else init
    names = set(start) if trainable is None else set(trainable)
    if not names or not names <= set(start):
        raise ValueError(f"trainable={sorted(names - set(start))[:5] or sorted(names)}: expected a non-empty "
                         f"set of parameter names of the config (e.g. {sorted(start)[:3]})")
    standardise = standardise and {"patch_embed.weight", "patch_embed.bias"} <= names  # it folds into them
    if standardise and cfg.padding:
        raise ValueError(f"cfg.padding={cfg.padding}: standardise=True folds exactly only without padding")
    return start, names, standardise


def evaluate(params: dict, cfg: ViTConfig, data: Shapes, batch_size: int = 500) -> float:
    """Accuracy of the ViT ``params`` on ``data`` (the fraction of argmax logits equal to the label),
    computed with torch float32 on the CPU (:func:`evaluate_loss` gives the cross-entropy too)."""
    return evaluate_loss(params, cfg, data, batch_size)[0]


def evaluate_loss(params: dict, cfg: ViTConfig, data: Shapes, batch_size: int = 500) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the ViT ``params`` on ``data``, torch float32 on the CPU."""
    import torch
    import torch.nn.functional as F

    _check_eval_data(data, batch_size)

    tparams = to_torch(params, dtype=torch.float32)
    correct, total_loss = 0, 0.0
    with torch.no_grad():
        for at in range(0, len(data), batch_size):
            logits = forward(tparams, torch.from_numpy(data.images[at:at + batch_size]), cfg)
            labels = torch.from_numpy(data.labels[at:at + batch_size])
            correct += int((logits.argmax(-1) == labels).sum())
            total_loss += float(F.cross_entropy(logits, labels, reduction="sum"))
    return correct / len(data), total_loss / len(data)


def _check_eval_data(data: Shapes, batch_size: int) -> None:
    check_shapes(data)
    check_int("batch_size", batch_size, 1)


WARMUP_COMPARISON = dict(warmups=(TRAIN_DEFAULTS["warmup"], 0), seeds=(0, 1, 2))


def warmup_comparison(warmups=WARMUP_COMPARISON["warmups"], seeds=WARMUP_COMPARISON["seeds"], pool: str = "cls",
                      progress: bool = False) -> dict:
    """The shipped recipe (:data:`TRAIN_DEFAULTS`) trained with each warm-up length and each seed, the rest
    unchanged: the same training images (``data_seed``), the same initialisation and batch order per seed.

    Returns a JSON-ready record: the settings, and per run the warm-up, the seed, the held-out accuracy
    and cross-entropy (``test_size`` images of ``test_seed``), the per-step training loss and the seconds.
    """
    for w in warmups:
        check_int("warmups", w, 0, TRAIN_DEFAULTS["steps"], why="each at most the recipe's steps")
    cfg = shapes_config(pool)
    d = TRAIN_DEFAULTS
    data = make_shapes(d["steps"] * d["batch_size"], d["data_seed"], image_size=cfg.image_size[0])
    test = make_shapes(d["test_size"], d["test_seed"], image_size=cfg.image_size[0])
    runs = []
    for seed in seeds:
        for w in warmups:
            result = train(cfg, steps=d["steps"], batch_size=d["batch_size"], lr=d["lr"],
                           weight_decay=d["weight_decay"], warmup=w, seed=seed, data=data, threads=d["threads"],
                           progress=progress)
            accuracy, loss = evaluate_loss(result.params, cfg, test)
            runs.append(dict(warmup=w, seed=seed, test_accuracy=accuracy, test_loss=loss,
                             train_loss=[round(v, 5) for v in result.history["loss"]],
                             seconds=round(result.seconds, 2)))
    return dict(recipe={k: v for k, v in d.items()}, pool=pool, warmups=list(warmups), seeds=list(seeds), runs=runs)


# ---- the comparison baseline ---------------------------------------------------------------------
def cnn_baseline(num_classes: int = len(CLASS_NAMES), width: int = 32):
    """A small convolutional network (torch.nn), the chapter's comparison baseline: three 3 x 3
    conv + BatchNorm + ReLU stages with 2 x 2 max pooling, global average pooling, a linear head.
    Takes (B, C, H, W) images (channels first, as torch.nn does)."""
    import torch.nn as nn

    def stage(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*stage(3, width), *stage(width, 2 * width), *stage(2 * width, 2 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))


def train_cnn(*, steps: int = TRAIN_DEFAULTS["steps"], batch_size: int = TRAIN_DEFAULTS["batch_size"],
              lr: float = TRAIN_DEFAULTS["lr"], weight_decay: float = TRAIN_DEFAULTS["weight_decay"],
              warmup: int = TRAIN_DEFAULTS["warmup"], seed: int = TRAIN_DEFAULTS["seed"],
              data_seed: int = TRAIN_DEFAULTS["data_seed"], image_size: int = RECIPE["image_size"],
              data: Shapes | None = None, width: int = 32, device: str = "cpu", threads: int | None = None,
              progress: bool = True) -> TrainResult:
    """Train :func:`cnn_baseline` (``width`` channels in its first stage) with the same set-up, loop,
    optimiser, schedule and defaults as :func:`train`.
    Returns a :class:`TrainResult` with ``.model`` (the torch module, in eval mode) and ``.params`` None.
    ``seed`` also draws the network's initial weights (torch's generator, forked: its global state is
    left as it was)."""
    import torch

    check_optimisation(lr=lr, weight_decay=weight_decay)
    with torch_settings(threads):
        data, data_seconds = _training_data(data, steps=steps, batch_size=batch_size, warmup=warmup, seed=seed,
                                            data_seed=data_seed, image_size=image_size, device=device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cnn_baseline(len(data.class_names), width).to(device)
        history, seconds = _fit(lambda x: model(x.permute(0, 3, 1, 2)), list(model.parameters()), data,
                                steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup=warmup,
                                label_smoothing=0.0, seed=seed, device=device, progress=progress,
                                desc="CNN baseline")
    model.eval()
    return TrainResult(params=None, history=history, seconds=seconds, data_seconds=data_seconds,
                       model=model.to("cpu"))


def evaluate_cnn(model, data: Shapes, batch_size: int = 500) -> float:
    """Accuracy of a :func:`cnn_baseline` module on ``data``."""
    import torch

    _check_eval_data(data, batch_size)

    correct = 0
    with torch.no_grad():
        for at in range(0, len(data), batch_size):
            x = torch.from_numpy(data.images[at:at + batch_size]).permute(0, 3, 1, 2)
            correct += int((model(x).argmax(-1).numpy() == data.labels[at:at + batch_size]).sum())
    return correct / len(data)


# ---- command line ----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vit_lessons.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", choices=("cls", "mean"), default="cls")
    for name, value in RECIPE.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, default=value)
    for name, value in TRAIN_DEFAULTS.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default=None, help="checkpoint path (.safetensors); the .json record goes next to it")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--warmup-comparison", metavar="JSON", default=None,
                   help="instead of one run: the recipe with and without warm-up, several seeds (warmup_comparison), "
                        "the record written to JSON")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate on a fresh held-out split, print the record, and save it when ``--out`` is given."""
    import torch

    from .checkpoints import save_checkpoint

    argv = sys.argv[1:] if argv is None else list(argv)
    a = _parser().parse_args(argv)
    if a.warmup_comparison:
        record = dict(command=shlex.join(["python", "-m", "vit_lessons.train", *argv]), torch=torch.__version__,
                      **warmup_comparison(pool=a.pool, progress=not a.no_progress))
        Path(a.warmup_comparison).write_text(json.dumps(record, indent=1) + "\n")
        return record
    if a.test_seed == a.data_seed:
        raise ValueError(f"--test-seed={a.test_seed}: must differ from --data-seed (the split must be held out)")
    cfg = shapes_config(a.pool, **{k: getattr(a, k) for k in RECIPE})
    result = train(cfg, steps=a.steps, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay,
                   warmup=a.warmup, label_smoothing=a.label_smoothing, seed=a.seed, data_seed=a.data_seed,
                   device=a.device, threads=a.threads, progress=not a.no_progress)
    test = make_shapes(a.test_size, a.test_seed, image_size=cfg.image_size[0])
    accuracy = evaluate(result.params, cfg, test)
    record = {
        "command": shlex.join(["python", "-m", "vit_lessons.train", *argv]),
        "test_accuracy": accuracy,
        "test_seed": a.test_seed,
        "test_size": a.test_size,
        "seed": a.seed,
        "data_seed": a.data_seed,
        "train_images": a.steps * a.batch_size,
        "train_seconds": round(result.seconds, 2),
        "data_seconds": round(result.data_seconds, 2),
        "final_loss": float(np.mean(result.history["loss"][-20:])),
        "threads": a.threads,
        "device": a.device,
        "torch": torch.__version__,
        "config": cfg.to_dict(),
    }
    print(json.dumps({k: v for k, v in record.items() if k != "config"}, indent=1))
    if a.out:
        out = Path(a.out)
        save_checkpoint(out, result.params, cfg, **{k: v for k, v in record.items() if k != "config"})
        out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    main()
