"""Small random Hugging Face ViTs saved the way real checkpoints are, and a Hugging Face hub cache that holds
them under real names, so that loading is tested without downloading anything."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch

import vit_lessons as V
from vit_lessons.convert import HF_VIT_NAMES, to_state_dict

# google/vit-base-patch16-224's image processor, and facebook/dino-vits16's, as their preprocessor_config.json
# files write them (the old feature-extractor form: an int size, no do_rescale key)
PROCESSOR_VIT_B16 = {"do_normalize": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
                     "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224,
                     "feature_extractor_type": "ViTFeatureExtractor"}
PROCESSOR_DINO = {"do_normalize": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
                  "image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 224,
                  "feature_extractor_type": "ViTFeatureExtractor"}


def hf_vit_config(cfg: V.ViTConfig, **changes):
    """transformers' ViTConfig with the shape of ``cfg`` (``num_classes`` labels named "class k")."""
    from transformers import ViTConfig

    labels = {k: f"class {k}" for k in range(cfg.num_classes)}
    fields = dict(hidden_size=cfg.d_model, num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                  intermediate_size=cfg.d_ff, image_size=cfg.image_size[0], patch_size=cfg.patch_size,
                  num_channels=cfg.channels, layer_norm_eps=cfg.ln_eps, hidden_act="gelu", qkv_bias=True)
    if labels:
        fields.update(id2label=labels, label2id={v: k for k, v in labels.items()})
    return ViTConfig(**{**fields, **changes})


def save_random_hf(folder: Path, cfg: V.ViTConfig, *, seed: int = 0, processor: dict | None = None,
                   pooler: bool = False, **hf_changes) -> Path:
    """A Hugging Face checkpoint with every parameter random (LayerNorm gains and biases too, so that a
    forgotten one shows), written by ``save_pretrained``: a ViTForImageClassification when
    ``cfg.num_classes`` > 0, else a ViTModel (with its pooler layer when ``pooler``)."""
    from transformers import ViTForImageClassification, ViTModel

    hf_cfg = hf_vit_config(cfg, **hf_changes)
    model = (ViTForImageClassification(hf_cfg) if cfg.num_classes else ViTModel(hf_cfg, add_pooling_layer=pooler))
    ours = to_state_dict(V.init_params(cfg, seed), HF_VIT_NAMES)
    prefix = "" if cfg.num_classes else "vit."
    state = {k: torch.from_numpy(np.asarray(ours[prefix + k])) if prefix + k in ours else v
             for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    model.save_pretrained(folder)
    if processor is not None:  # as the checkpoint's authors wrote it, for Hugging Face and us to read
        (Path(folder) / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return Path(folder)


def cache_as_hub(hub_cache: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Place the files of ``folder`` in a Hugging Face hub cache as the snapshot of ``repo_id`` at
    ``revision`` (the layout huggingface_hub writes: refs/<revision> -> commit, snapshots/<commit>/...)."""
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    repo = Path(hub_cache) / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot, dirs_exist_ok=True)
    return snapshot
