"""Fine-tuning a pre-trained ViT: a new head, a new resolution, the whole model or a linear probe.

The paper's recipe (its Section 3.2 and Appendix B.1.1): remove the pre-trained head and attach a
zero-initialised D x K layer; fine-tune with SGD with momentum 0.9, no weight decay, the gradient
clipped at global norm 1, a short warm-up and a cosine decay; at a higher resolution keep the patch
size (more tokens) and interpolate the learned position embeddings to the new grid.

    cfg48, params48 = at_resolution(cfg, params, 48, convention="official")
    cfg5, params5 = new_head(cfg48, params48, num_classes=5)
    result = finetune(cfg5, params5, data)                  # or finetune(..., linear_probe=True)
"""

from __future__ import annotations

import numpy as np

import vit_lessons as V
from vit_lessons import train as T
from vit_lessons.checks import check_instance, check_int
from vit_lessons.data import Shapes, check_shapes

HEAD = ("head.weight", "head.bias")
# the paper's fine-tuning optimiser; the rate and the steps are the caller's (a tiny model takes larger rates)
FINETUNE_DEFAULTS = dict(optimizer="sgd", momentum=0.9, weight_decay=0.0, clip_norm=1.0, lr=0.01, warmup=5,
                         steps=40, batch_size=64)


def new_head(cfg, params: dict, num_classes: int):
    """The model with its head replaced by a zero-initialised one for ``num_classes`` classes.

    Returns (cfg with ``num_classes``, params with head.weight (K, D) and head.bias (K,) all zeros):
    every logit starts at 0 (a uniform prediction, loss log K), and the first gradient step moves the
    head alone, driven by the pre-trained features.  ``params`` is not changed.
    """
    V.check_params(params, cfg)
    num_classes = check_int("num_classes", num_classes, 1)
    new_cfg = cfg.replace(num_classes=num_classes)
    out = {k: v for k, v in params.items() if k not in HEAD}
    out["head.weight"] = np.zeros((num_classes, cfg.d_model), np.float32)
    out["head.bias"] = np.zeros(num_classes, np.float32)
    return new_cfg, out


def at_resolution(cfg, params: dict, image_size: int, convention: str = "official"):
    """The model for ``image_size`` x ``image_size`` images with the same patch size: a larger grid of
    patches (more tokens), the learned grid of positions resized by ``convention`` (one of
    :data:`vit_lessons.embedding.RESIZE_CONVENTIONS`), the CLS row and every other weight unchanged.

    Returns (cfg with the new ``image_size``, params with pos_embed (prefix + new gh * new gw, D)).
    """
    V.check_params(params, cfg)
    image_size = check_int("image_size", image_size, cfg.patch_size, why="at least the patch size")
    new_cfg = cfg.replace(image_size=(image_size, image_size))
    out = dict(params)
    out["pos_embed"] = np.asarray(V.resize_pos_embed(np.asarray(params["pos_embed"]), cfg.grid_size,
                                                     new_cfg.grid_size, cfg.num_prefix_tokens, convention),
                                  dtype=np.float32)
    return new_cfg, out


def relabel(data: Shapes, groups: dict[str, tuple[str, ...]]) -> Shapes:
    """The same images with a new task: each image's label becomes the index of the group (a key of
    ``groups``, in order) that lists its class name, e.g. ``{"round": ("disc", "ring"), "angular":
    ("square", "triangle", "cross")}``.  Every class must be in exactly one group."""
    check_shapes(data)
    check_instance("groups", groups, dict, how=" of group name -> the class names it holds")
    listed = [name for members in groups.values() for name in members]
    if sorted(listed) != sorted(data.class_names):
        raise ValueError(f"groups={groups!r}: expected every class of {data.class_names} in exactly one group")
    group_of = {name: g for g, members in enumerate(groups.values()) for name in members}
    labels = np.array([group_of[name] for name in data.class_names], np.int64)[data.labels]
    return Shapes(images=data.images, labels=labels, masks=data.masks, class_names=tuple(groups))


def finetune(cfg, params: dict, data: Shapes, *, linear_probe: bool = False, seed: int = 0,
             progress: bool = True, threads: int | None = 1, **changes) -> T.TrainResult:
    """Fine-tune ``params`` on ``data`` with the paper's recipe (:data:`FINETUNE_DEFAULTS`, any of
    which ``changes`` overrides, e.g. ``steps=20, lr=0.03``), through :func:`vit_lessons.train.train`.

    linear_probe : train the head alone, every other parameter frozen (the features as pre-trained);
                   otherwise every parameter is trained.
    Returns the :class:`vit_lessons.train.TrainResult` (``.params`` take raw images).
    """
    unknown = sorted(set(changes) - set(FINETUNE_DEFAULTS))
    if unknown:
        raise ValueError(f"{unknown}: not fine-tuning settings (expected some of {sorted(FINETUNE_DEFAULTS)})")
    settings = dict(FINETUNE_DEFAULTS, **changes)
    return T.train(cfg, init=params, trainable=HEAD if linear_probe else None, data=data, seed=seed,
                   progress=progress, threads=threads, **settings)


def scratch(cfg, data: Shapes, *, seed: int = 0, progress: bool = True, threads: int | None = 1,
            **changes) -> T.TrainResult:
    """Train ``cfg`` from a random initialisation with the pre-training recipe (AdamW, chapter 8) at the
    budget ``changes`` sets (``steps``, ``batch_size``, ``lr``, ``warmup``): the baseline that fine-tuning
    must beat at the same budget."""
    settings = {k: v for k, v in FINETUNE_DEFAULTS.items() if k in ("steps", "batch_size", "warmup")}
    settings.update(changes)
    return T.train(cfg, data=data, seed=seed, progress=progress, threads=threads, **settings)
