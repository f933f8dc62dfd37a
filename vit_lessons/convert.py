"""Chapters 9b and 11: real implementations and real checkpoints, mapped onto ours.

Chapter 11, the names.  Each mapping is a table of (our name, their name) pairs, one table per library; where a
library fuses W_q, W_k, W_v into one tensor, their name is (fused name, slice index).  A few
of their tensors carry a leading batch axis of 1 (the CLS token, the positional embedding),
which is added or dropped on the way.  The functions take and return plain dicts of numpy arrays or torch
tensors, so no library needs to be imported to convert.

Chapter 9b, real checkpoints.  :func:`load_hf` reads a Hugging Face ``ViTForImageClassification``
(e.g. ``google/vit-base-patch16-224``) or a ``ViTModel`` without a head (e.g. ``facebook/dino-vits16``)
from a folder or the Hugging Face cache into a :class:`~vit_lessons.config.ViTConfig` and our
parameters; whatever the checkpoint differs in (LayerNorm epsilon, no head) the config says, and what
our forward pass cannot compute (another activation, no q/k/v biases, a pooler layer, positions for
another grid) is refused by name.  :func:`hf_preprocessor` is the image preprocessing the checkpoint
records, :func:`hf_class_names` its class names.  Hub names are read from the cache; one that is not
cached is fetched when the hub can be reached, and otherwise raises :class:`NotCachedError` at once,
with the command that fetches it::

    python -m vit_lessons.convert fetch google/vit-base-patch16-224 facebook/dino-vits16
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import require
from .config import ViTConfig, check_config, param_shapes

#: Hugging Face ``transformers`` (5.x) ``ViTForImageClassification`` names, ``{i}`` the block.
HF_VIT_NAMES = {
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.weight": "vit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.bias": "vit.embeddings.patch_embeddings.projection.bias",
    "blocks.{i}.norm1.weight": "vit.layers.{i}.layernorm_before.weight",
    "blocks.{i}.norm1.bias": "vit.layers.{i}.layernorm_before.bias",
    "blocks.{i}.attn.q.weight": "vit.layers.{i}.attention.q_proj.weight",
    "blocks.{i}.attn.q.bias": "vit.layers.{i}.attention.q_proj.bias",
    "blocks.{i}.attn.k.weight": "vit.layers.{i}.attention.k_proj.weight",
    "blocks.{i}.attn.k.bias": "vit.layers.{i}.attention.k_proj.bias",
    "blocks.{i}.attn.v.weight": "vit.layers.{i}.attention.v_proj.weight",
    "blocks.{i}.attn.v.bias": "vit.layers.{i}.attention.v_proj.bias",
    "blocks.{i}.attn.proj.weight": "vit.layers.{i}.attention.o_proj.weight",
    "blocks.{i}.attn.proj.bias": "vit.layers.{i}.attention.o_proj.bias",
    "blocks.{i}.norm2.weight": "vit.layers.{i}.layernorm_after.weight",
    "blocks.{i}.norm2.bias": "vit.layers.{i}.layernorm_after.bias",
    "blocks.{i}.mlp.fc1.weight": "vit.layers.{i}.mlp.fc1.weight",
    "blocks.{i}.mlp.fc1.bias": "vit.layers.{i}.mlp.fc1.bias",
    "blocks.{i}.mlp.fc2.weight": "vit.layers.{i}.mlp.fc2.weight",
    "blocks.{i}.mlp.fc2.bias": "vit.layers.{i}.mlp.fc2.bias",
    "norm.weight": "vit.layernorm.weight",
    "norm.bias": "vit.layernorm.bias",
    "head.weight": "classifier.weight",
    "head.bias": "classifier.bias",
}

#: timm (1.x) ``timm.models.vision_transformer.VisionTransformer`` names.  ``(name, j)`` is slice
#: ``j`` of a fused tensor: timm stores W_q, W_k, W_v stacked as ``attn.qkv`` (3 D, D).
TIMM_VIT_NAMES = {
    "cls_token": "cls_token",
    "pos_embed": "pos_embed",
    "patch_embed.weight": "patch_embed.proj.weight",
    "patch_embed.bias": "patch_embed.proj.bias",
    "blocks.{i}.norm1.weight": "blocks.{i}.norm1.weight",
    "blocks.{i}.norm1.bias": "blocks.{i}.norm1.bias",
    "blocks.{i}.attn.q.weight": ("blocks.{i}.attn.qkv.weight", 0),
    "blocks.{i}.attn.q.bias": ("blocks.{i}.attn.qkv.bias", 0),
    "blocks.{i}.attn.k.weight": ("blocks.{i}.attn.qkv.weight", 1),
    "blocks.{i}.attn.k.bias": ("blocks.{i}.attn.qkv.bias", 1),
    "blocks.{i}.attn.v.weight": ("blocks.{i}.attn.qkv.weight", 2),
    "blocks.{i}.attn.v.bias": ("blocks.{i}.attn.qkv.bias", 2),
    "blocks.{i}.attn.proj.weight": "blocks.{i}.attn.proj.weight",
    "blocks.{i}.attn.proj.bias": "blocks.{i}.attn.proj.bias",
    "blocks.{i}.norm2.weight": "blocks.{i}.norm2.weight",
    "blocks.{i}.norm2.bias": "blocks.{i}.norm2.bias",
    "blocks.{i}.mlp.fc1.weight": "blocks.{i}.mlp.fc1.weight",
    "blocks.{i}.mlp.fc1.bias": "blocks.{i}.mlp.fc1.bias",
    "blocks.{i}.mlp.fc2.weight": "blocks.{i}.mlp.fc2.weight",
    "blocks.{i}.mlp.fc2.bias": "blocks.{i}.mlp.fc2.bias",
    "norm.weight": "norm.weight",
    "norm.bias": "norm.bias",
    "head.weight": "head.weight",
    "head.bias": "head.bias",
}

#: torchvision ``torchvision.models.VisionTransformer`` names (W_q, W_k, W_v fused as in
#: ``nn.MultiheadAttention``'s ``in_proj_weight``; the MLP is a ``Sequential`` whose linear layers
#: are entries 0 and 3).  torchvision has a CLS token only.
TORCHVISION_VIT_NAMES = {
    "cls_token": "class_token",
    "pos_embed": "encoder.pos_embedding",
    "patch_embed.weight": "conv_proj.weight",
    "patch_embed.bias": "conv_proj.bias",
    "blocks.{i}.norm1.weight": "encoder.layers.encoder_layer_{i}.ln_1.weight",
    "blocks.{i}.norm1.bias": "encoder.layers.encoder_layer_{i}.ln_1.bias",
    "blocks.{i}.attn.q.weight": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_weight", 0),
    "blocks.{i}.attn.q.bias": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_bias", 0),
    "blocks.{i}.attn.k.weight": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_weight", 1),
    "blocks.{i}.attn.k.bias": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_bias", 1),
    "blocks.{i}.attn.v.weight": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_weight", 2),
    "blocks.{i}.attn.v.bias": ("encoder.layers.encoder_layer_{i}.self_attention.in_proj_bias", 2),
    "blocks.{i}.attn.proj.weight": "encoder.layers.encoder_layer_{i}.self_attention.out_proj.weight",
    "blocks.{i}.attn.proj.bias": "encoder.layers.encoder_layer_{i}.self_attention.out_proj.bias",
    "blocks.{i}.norm2.weight": "encoder.layers.encoder_layer_{i}.ln_2.weight",
    "blocks.{i}.norm2.bias": "encoder.layers.encoder_layer_{i}.ln_2.bias",
    "blocks.{i}.mlp.fc1.weight": "encoder.layers.encoder_layer_{i}.mlp.0.weight",
    "blocks.{i}.mlp.fc1.bias": "encoder.layers.encoder_layer_{i}.mlp.0.bias",
    "blocks.{i}.mlp.fc2.weight": "encoder.layers.encoder_layer_{i}.mlp.3.weight",
    "blocks.{i}.mlp.fc2.bias": "encoder.layers.encoder_layer_{i}.mlp.3.bias",
    "norm.weight": "encoder.ln.weight",
    "norm.bias": "encoder.ln.bias",
    "head.weight": "heads.head.weight",
    "head.bias": "heads.head.bias",
}

#: Tensors the other libraries store as (1, T, D): the CLS token (1, 1, D) and the positions.
BATCHED = ("cls_token", "pos_embed")

#: One table per library, by the name used in error messages.
TABLES = {"Hugging Face": HF_VIT_NAMES, "timm": TIMM_VIT_NAMES, "torchvision": TORCHVISION_VIT_NAMES}


def _their_name(table: dict, ours: str):
    """Their name for our parameter ``ours``: a string, or (name, slice index) for a fused tensor."""
    parts = ours.split(".")
    entry = table[".".join(["blocks", "{i}", *parts[2:]])] if parts[0] == "blocks" else table[ours]
    if isinstance(entry, tuple):
        return entry[0].format(i=parts[1]), entry[1]
    return entry.format(i=parts[1]) if parts[0] == "blocks" else entry


def _concat(parts: list):
    """Concatenate numpy arrays or torch tensors along axis 0 (the fused q, k, v)."""
    from .backend import namespace

    return namespace(*parts).concat(parts, axis=0)


def to_state_dict(params: dict, table: dict) -> dict:
    """Our parameters renamed by ``table`` (one of :data:`TABLES`): fused tensors are concatenated
    in slice order, the CLS token and positions get their leading axis of 1."""
    out, fused = {}, {}
    for k, v in params.items():
        theirs = _their_name(table, k)
        v = v.reshape(1, -1, v.shape[-1]) if k in BATCHED else v
        if isinstance(theirs, tuple):
            fused.setdefault(theirs[0], {})[theirs[1]] = v
        else:
            out[theirs] = v
    for name, slices in fused.items():
        out[name] = _concat([slices[j] for j in sorted(slices)])
    return out


def from_state_dict(state_dict: dict, cfg: ViTConfig, table: dict, library: str = "the library") -> dict:
    """The inverse of :func:`to_state_dict`: a state dict named by ``table`` as our parameters."""
    out = {}
    for k, shape in param_shapes(cfg).items():
        theirs = _their_name(table, k)
        name, j = theirs if isinstance(theirs, tuple) else (theirs, None)
        if name not in state_dict:
            raise ValueError(f"state_dict has no {name!r} (needed for our {k!r} from {library})")
        v = state_dict[name]
        if j is not None:
            v = v[j * shape[0]:(j + 1) * shape[0]]
        out[k] = v.reshape(shape) if k in BATCHED else v
    return out


def to_hf_vit(params: dict, cfg: ViTConfig) -> dict:
    """Our parameters as a ``ViTForImageClassification`` state dict (CLS pooling only)."""
    check_config(cfg)
    if cfg.pool != "cls":
        raise ValueError(f"cfg.pool={cfg.pool!r}: Hugging Face's ViTForImageClassification reads the CLS token; "
                         f"expected 'cls'")
    return to_state_dict(params, HF_VIT_NAMES)


def from_hf_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A ``ViTForImageClassification`` state dict as our parameters (the inverse of :func:`to_hf_vit`)."""
    return from_state_dict(state_dict, cfg, HF_VIT_NAMES, "Hugging Face")


def to_timm_vit(params: dict, cfg: ViTConfig) -> dict:
    """Our parameters as a timm ``VisionTransformer`` state dict.

    The matching timm model: ``class_token=True, global_pool="token"`` for ``pool="cls"``;
    ``class_token=False, global_pool="avg", fc_norm=False`` for ``pool="mean"`` (timm's default
    ``fc_norm`` for average pooling normalises *after* pooling, a different model); and
    ``qkv_bias=True``, ``norm_layer`` with ``eps=cfg.ln_eps`` (timm's default is 1e-6).
    """
    check_config(cfg)
    return to_state_dict(params, TIMM_VIT_NAMES)


def from_timm_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A timm ``VisionTransformer`` state dict as our parameters (the inverse of :func:`to_timm_vit`)."""
    return from_state_dict(state_dict, cfg, TIMM_VIT_NAMES, "timm")


def to_torchvision_vit(params: dict, cfg: ViTConfig) -> dict:
    """Our parameters as a torchvision ``VisionTransformer`` state dict (CLS pooling only)."""
    check_config(cfg)
    if cfg.pool != "cls":
        raise ValueError(f"cfg.pool={cfg.pool!r}: torchvision's VisionTransformer reads the CLS token; "
                         f"expected 'cls'")
    return to_state_dict(params, TORCHVISION_VIT_NAMES)


def from_torchvision_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A torchvision ``VisionTransformer`` state dict as our parameters."""
    return from_state_dict(state_dict, cfg, TORCHVISION_VIT_NAMES, "torchvision")


# ---- real checkpoints from Hugging Face (chapter 9b) ------------------------------------------------------
#: The two model classes of ``transformers`` that :func:`load_hf` reads, by the name in ``config.json``.
HF_ARCHITECTURES = ("ViTForImageClassification", "ViTModel")
#: The weights files :func:`fetch` looks for, in order of preference (safetensors cannot run code on load;
#: PyTorch's files are read by transformers with ``torch.load(weights_only=True)``).
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PROBE_TIMEOUT = 5.0  # seconds to wait for the hub before calling it unreachable
FETCH_COMMAND = "python -m vit_lessons.convert fetch"


class NotCachedError(FileNotFoundError):
    """A Hugging Face model that is not in the local cache and cannot be fetched now (offline)."""


def _repo_id(name: str) -> str:
    """``name`` checked as a hub model name (owner/name), else a ValueError naming it."""
    require("huggingface_hub")  # a clear error naming the extra when it is missing
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except ValueError:
        raise ValueError(f"name_or_path={name!r}: neither a folder nor a Hugging Face model name such as "
                         f"'google/vit-base-patch16-224'") from None
    return name


def _cached_folder(repo_id: str, revision: str | None, cache_dir) -> Path | None:
    """The cached snapshot folder of ``repo_id`` holding its config and weights, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir, revision=revision)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    return folder if any((folder / f).is_file() for f in HF_WEIGHT_FILES) else None


def is_cached(name: str, *, revision: str | None = None, cache_dir=None) -> bool:
    """True when the hub model ``name`` (config and weights) is in the Hugging Face cache; never uses the network."""
    return _cached_folder(_repo_id(name), revision, cache_dir) is not None


def _not_cached(repo_id: str, revision: str | None, cache_dir, reason: str) -> NotCachedError:
    from huggingface_hub import constants

    at = f" at revision {revision!r}" if revision else ""
    where = cache_dir or constants.HF_HUB_CACHE
    return NotCachedError(f"{repo_id}{at} is not in the Hugging Face cache ({where}) and {reason}. Fetch it where "
                          f"the hub can be reached: {FETCH_COMMAND} {repo_id}"
                          + (f" --revision {revision}" if revision else ""))


def _probe(repo_id: str, revision: str | None, cache_dir) -> None:
    """One request to the hub, without retries and within :data:`PROBE_TIMEOUT`: NotCachedError when it
    cannot be reached (offline, no network, no answer), ValueError when it answers that the model or the
    revision does not exist."""
    from huggingface_hub import constants, get_token, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.utils import get_session, hf_raise_for_status

    if constants.HF_HUB_OFFLINE:
        raise _not_cached(repo_id, revision, cache_dir, "the hub is switched off (HF_HUB_OFFLINE=1)")
    try:
        # huggingface_hub's own calls retry a failed connection for about 20 s before giving up, and their
        # first request of the day fetches a registry for the user agent (3 s more): one plain request instead
        token = get_token()
        response = get_session().head(hf_hub_url(repo_id, "config.json", revision=revision), timeout=PROBE_TIMEOUT,
                                      headers={"authorization": f"Bearer {token}"} if token else {},
                                      follow_redirects=False)
        hf_raise_for_status(response)
    except RepositoryNotFoundError:
        raise ValueError(f"name_or_path={repo_id!r}: the hub has no such model (or it is private or gated)") from None
    except RevisionNotFoundError:
        raise ValueError(f"revision={revision!r}: {repo_id} has no such revision") from None
    except EntryNotFoundError:
        raise ValueError(f"name_or_path={repo_id!r}: the model has no config.json (not a transformers model)") from None
    except Exception as error:  # any transport failure (refused, DNS, timeout, a server error) means: unreachable now
        reason = f"the hub cannot be reached at {constants.ENDPOINT} ({type(error).__name__}: {error})"
        raise _not_cached(repo_id, revision, cache_dir, reason) from None


def fetch(name: str, *, revision: str | None = None, cache_dir=None) -> Path:
    """Download the hub model ``name`` (config, image preprocessing, one weights file) into the Hugging
    Face cache; returns its snapshot folder.  NotCachedError when the hub cannot be reached."""
    from huggingface_hub import HfApi, snapshot_download

    repo_id = _repo_id(name)
    _probe(repo_id, revision, cache_dir)
    wanted = files_to_fetch(repo_id, _hub_call(repo_id, HfApi().list_repo_files, repo_id, revision=revision))
    return Path(_hub_call(repo_id, snapshot_download, repo_id, revision=revision, cache_dir=cache_dir,
                          allow_patterns=wanted))


def _hub_call(repo_id: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``, a failure of the hub or the network raised as one OSError naming ``repo_id``."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # the hub answered the probe, so this is a failure on the way: say so, briefly
        raise OSError(f"{repo_id}: fetching from the hub failed ({type(error).__name__}: {error}); what was "
                      f"downloaded stays in the cache, and the same command continues") from None


def files_to_fetch(repo_id: str, files) -> list[str]:
    """Of a hub model's ``files``, those :func:`load_hf` reads: config.json, the image preprocessing, and one
    weights file (safetensors when there is one)."""
    files = set(files)
    weights = [f for f in HF_WEIGHT_FILES if f in files][:1]
    if "config.json" not in files or not weights:
        raise ValueError(f"name={repo_id!r}: expected config.json and one of {list(HF_WEIGHT_FILES)}, found "
                         f"{sorted(files)[:8]} (sharded checkpoints are not supported)")
    return ["config.json", *weights] + (["preprocessor_config.json"] if "preprocessor_config.json" in files else [])


def checkpoint_folder(name_or_path, *, revision: str | None = None, cache_dir=None) -> Path:
    """The local folder of a checkpoint: ``name_or_path`` itself when it is a folder, else the hub model's
    cached snapshot (fetched first when it is not cached and the hub can be reached)."""
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise ValueError(f"name_or_path={name_or_path!r}: expected a folder or a Hugging Face model name")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision={revision!r}: a revision names a hub commit; {path} is a folder")
        return path
    if path.exists():
        raise ValueError(f"name_or_path={str(name_or_path)!r} is a file: expected the folder that holds its "
                         f"config.json, or a Hugging Face model name")
    if isinstance(name_or_path, Path) or str(name_or_path).startswith((".", "/", "~")):
        raise ValueError(f"name_or_path={str(name_or_path)!r}: no such folder")
    repo_id = _repo_id(str(name_or_path))
    folder = _cached_folder(repo_id, revision, cache_dir)
    if folder is None:
        _probe(repo_id, revision, cache_dir)
        folder = fetch(repo_id, revision=revision, cache_dir=cache_dir)
    return folder


def _read_json(path: Path) -> dict:
    import json

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path.parent}: no {path.name} (expected a Hugging Face checkpoint folder)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def config_from_hf(hf: dict, name: str = "") -> tuple[ViTConfig, str]:
    """A Hugging Face ViT ``config.json`` (as a dict) as our config, and its architecture (one of
    :data:`HF_ARCHITECTURES`).  Fields it leaves out take Hugging Face's defaults; what our forward
    pass does not compute raises a ValueError naming it."""
    transformers = require("transformers")

    label = name or "the checkpoint"
    if not isinstance(hf, dict) or hf.get("model_type") != "vit":
        got = hf.get("model_type") if isinstance(hf, dict) else hf
        raise ValueError(f"{label}: model_type={got!r} is not supported: expected 'vit' (DeiT, BEiT, DINOv2 and "
                         f"others change the architecture)")
    architectures = hf.get("architectures") or []
    if len(architectures) != 1 or architectures[0] not in HF_ARCHITECTURES:
        raise ValueError(f"{label}: architectures={architectures!r}: expected one of {list(HF_ARCHITECTURES)}")
    try:
        c = transformers.ViTConfig.from_dict(hf)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{label}: config.json is not a valid ViT configuration ({error})") from None
    for key, supported, meaning in (("hidden_act", "gelu", "the exact GELU"),
                                    ("qkv_bias", True, "biases on the queries, keys and values")):
        if getattr(c, key) != supported:
            raise ValueError(f"{label}: {key}={getattr(c, key)!r} is not supported: the book's blocks have "
                             f"{meaning} ({key}={supported!r})")
    sizes = {}
    for key in ("image_size", "patch_size"):
        value = getattr(c, key)
        sizes[key] = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(set(sizes["patch_size"])) != 1:
        raise ValueError(f"{label}: patch_size={list(sizes['patch_size'])} is not supported: expected square patches")
    classifier = architectures[0] == "ViTForImageClassification"
    try:
        cfg = ViTConfig(image_size=sizes["image_size"], patch_size=sizes["patch_size"][0], channels=c.num_channels,
                        d_model=c.hidden_size, num_heads=c.num_attention_heads, d_ff=c.intermediate_size,
                        num_layers=c.num_hidden_layers, num_classes=c.num_labels if classifier else 0, pool="cls",
                        ln_eps=c.layer_norm_eps, name=name)
    except ValueError as error:
        raise ValueError(f"{label}: config.json does not describe a ViT the book can run ({error})") from None
    if getattr(c, "head_dim", None) not in (None, cfg.head_dim):
        raise ValueError(f"{label}: head_dim={c.head_dim!r} is not supported: expected hidden_size / "
                         f"num_attention_heads = {cfg.head_dim}")
    return cfg, architectures[0]


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' own load report and progress bars off for a moment (:func:`load_hf` reports itself)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _hf_state_dict(folder: Path, architecture: str, label: str) -> dict:
    """The weights of ``folder`` as ``architecture`` builds them with ``from_pretrained``, as float32 numpy
    arrays named as in :data:`HF_VIT_NAMES` (a ``ViTModel``'s names get the ``vit.`` prefix)."""
    import torch
    transformers = require("transformers")

    model_class = getattr(transformers, architecture)
    # a ViTModel's pooler (tanh(W h_CLS + b)) is built without weights of its own in the checkpoint: leave it out
    kwargs = {"add_pooling_layer": False} if architecture == "ViTModel" else {}
    with _quiet_transformers():
        try:
            model, info = model_class.from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=True,
                                                      **kwargs)
        except (OSError, RuntimeError, ValueError) as error:
            raise ValueError(f"{label}: the weights do not load into {architecture} ({error})") from None
    if info["mismatched_keys"]:
        shapes = [str(m[0] if isinstance(m, tuple) else m) for m in sorted(info["mismatched_keys"], key=str)]
        raise ValueError(f"{label}: weights of another shape than config.json says: {shapes} (position embeddings "
                         f"for another image size would have to be interpolated, which load_hf does not do)")
    if info["missing_keys"]:
        raise ValueError(f"{label}: the checkpoint lacks {sorted(info['missing_keys'])} (transformers would "
                         f"initialise them at random)")
    pooler = sorted(k for k in info["unexpected_keys"] if k.split(".")[0] == "pooler")
    if pooler:
        raise ValueError(f"{label}: the checkpoint has a pooler layer ({', '.join(pooler)}), which ViTModel applies "
                         f"to the CLS token (tanh(W h + b)); the book's features are the CLS token itself, so this "
                         f"checkpoint is not supported")
    prefix = "vit." if architecture == "ViTModel" else ""
    return {prefix + k: v.detach().to(torch.float32).numpy() for k, v in model.state_dict().items()}


def load_hf(name_or_path, *, revision: str | None = None, cache_dir=None) -> tuple[ViTConfig, dict]:
    """A Hugging Face ViT checkpoint as (our config, our parameters (float32 numpy)).

    name_or_path: a folder written by ``save_pretrained`` or a hub name such as
        ``"google/vit-base-patch16-224"`` (a ``ViTForImageClassification``: ``cfg.num_classes`` logits)
        or ``"facebook/dino-vits16"`` (a ``ViTModel``: ``cfg.num_classes == 0``, forward returns the
        final-LayerNorm CLS token).  A hub name is read from the Hugging Face cache (``cache_dir``, or
        the standard one), fetched first when it is not there and the hub can be reached.
    revision: a hub branch, tag or commit (hub names only).
    Raises NotCachedError (offline and not cached), ValueError (not a checkpoint the book's forward
    computes exactly: the message names the feature).
    """
    folder = checkpoint_folder(name_or_path, revision=revision, cache_dir=cache_dir)
    label = str(name_or_path)
    cfg, architecture = config_from_hf(_read_json(folder / "config.json"), name=label)
    state_dict = _hf_state_dict(folder, architecture, label)
    params = from_hf_vit(state_dict, cfg)
    unused = sorted(set(state_dict) - set(to_state_dict(params, HF_VIT_NAMES)))
    if unused:
        raise ValueError(f"{label}: the checkpoint has parameters the book's ViT has no place for: {unused[:5]}")
    return cfg, params


def hf_class_names(name_or_path, *, revision: str | None = None, cache_dir=None) -> list[str] | None:
    """The class names of a classifier checkpoint, index k naming logit k (``id2label``); None for a
    model without a head."""
    folder = checkpoint_folder(name_or_path, revision=revision, cache_dir=cache_dir)
    hf = _read_json(folder / "config.json")
    cfg, _ = config_from_hf(hf, name=str(name_or_path))
    if cfg.num_classes == 0:
        return None
    labels = {str(k): str(v) for k, v in (hf.get("id2label") or {}).items()}
    if sorted(labels) != sorted(str(k) for k in range(cfg.num_classes)):
        raise ValueError(f"{name_or_path}: id2label does not name the classes 0 .. {cfg.num_classes - 1}")
    return [labels[str(k)] for k in range(cfg.num_classes)]


# ---- the image preprocessing a checkpoint expects ------------------------------------------------------
#: Hugging Face ViTImageProcessor's defaults, for the keys a preprocessor_config.json leaves out.
HF_PREPROCESSING_DEFAULTS = {"do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2,
                             "do_center_crop": False, "crop_size": None, "do_rescale": True,
                             "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
                             "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": None}
#: Keys that say which class wrote the file and change nothing in the pixels.
_HF_PREPROCESSING_INFO = {"image_processor_type", "feature_extractor_type", "processor_class"}
#: PIL's resampling filters by the number Hugging Face stores.
PIL_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


@dataclass(frozen=True)
class ImagePreprocessor:
    """The preprocessing a checkpoint was trained with, as Hugging Face's ViT image processor does it
    with PIL: resize, optionally centre-crop, rescale the bytes to [0, 1], normalise per channel.

    resize     : (H, W) to resize to, ("shortest", s) to scale the shorter side to s keeping the aspect
                 ratio, or None.
    resample   : PIL filter number (:data:`PIL_FILTERS`, 2 = bilinear).
    crop       : (H, W) of the centre crop, or None.
    rescale    : factor from bytes to the model's range (1/255), or None.
    mean, std  : per-channel normalisation (C,), or None.
    """

    resize: tuple | None = (224, 224)
    resample: int = 2
    crop: tuple[int, int] | None = None
    rescale: float | None = 1 / 255
    mean: tuple[float, ...] | None = (0.5, 0.5, 0.5)
    std: tuple[float, ...] | None = (0.5, 0.5, 0.5)

    def __str__(self) -> str:
        """The steps in words, e.g. "resize to 224 x 224 (bilinear), rescale by 1/255, normalise with ..."."""
        steps = []
        if self.resize is not None:
            size = (f"a shorter side of {self.resize[1]}" if self.resize[0] == "shortest"
                    else f"{self.resize[0]} x {self.resize[1]}")
            steps.append(f"resize to {size} ({PIL_FILTERS[self.resample]})")
        if self.crop is not None:
            steps.append(f"crop the centre {self.crop[0]} x {self.crop[1]}")
        if self.rescale is not None:
            steps.append("rescale by 1/255" if abs(self.rescale - 1 / 255) < 1e-12 else f"rescale by {self.rescale:g}")
        if self.mean is not None:
            steps.append(f"normalise with mean {self.mean} and std {self.std}")
        return ", ".join(steps) or "nothing"

    def pixels(self, image) -> np.ndarray:
        """(H, W, 3) bytes (or (H, W) / (H, W, 1) grey, or floats in [0, 1]) -> the resized and cropped
        image the model sees, (H', W', 3) uint8, before rescaling and normalisation."""
        Image = require("PIL.Image")

        x = _rgb_bytes(image)
        if self.resize is not None:
            h, w = x.shape[:2]
            if self.resize[0] == "shortest":
                s = self.resize[1]
                size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)  # Hugging Face's rounding (down)
            else:
                size = self.resize
            x = np.asarray(Image.fromarray(x).resize((size[1], size[0]), resample=self.resample))
        if self.crop is not None:
            x = _centre_crop(x, self.crop)
        return x

    def __call__(self, image) -> np.ndarray:
        """One image (see :meth:`pixels`) -> the model's input (H', W', 3) float32, channels last."""
        x = self.pixels(image).astype(np.float32)
        if self.rescale is not None:
            x = x * np.float32(self.rescale)
        if self.mean is not None:
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return x

    @classmethod
    def from_hf(cls, hf: dict, name: str = "") -> ImagePreprocessor:
        """The preprocessing a ``preprocessor_config.json`` (as a dict) describes; keys it does not know
        raise a ValueError naming them."""
        label = name or "preprocessor_config.json"
        kind = hf.get("image_processor_type") or hf.get("feature_extractor_type") or "ViTImageProcessor"
        if not str(kind).startswith("ViT"):
            raise ValueError(f"{label}: image_processor_type={kind!r} is not supported: expected a ViT image "
                             f"processor (ViTImageProcessor, ViTFeatureExtractor)")
        unknown = sorted(set(hf) - set(HF_PREPROCESSING_DEFAULTS) - _HF_PREPROCESSING_INFO)
        if unknown:
            raise ValueError(f"{label}: keys {unknown} are not supported (known: {sorted(HF_PREPROCESSING_DEFAULTS)})")
        c = {**HF_PREPROCESSING_DEFAULTS, **hf}
        if c["resample"] not in PIL_FILTERS:
            raise ValueError(f"{label}: resample={c['resample']!r}: expected one of {sorted(PIL_FILTERS)}")
        mean = _channels(c["image_mean"], "image_mean", label) if c["do_normalize"] else None
        std = _channels(c["image_std"], "image_std", label) if c["do_normalize"] else None
        if std is not None and (len(std) != len(mean) or min(std) <= 0):
            raise ValueError(f"{label}: image_std={list(std)}: expected as many positive numbers as image_mean")
        rescale = c["rescale_factor"] if c["do_rescale"] else None
        if rescale is not None and not (isinstance(rescale, (int, float)) and rescale > 0):
            raise ValueError(f"{label}: rescale_factor={rescale!r}: expected a positive number")
        return cls(resize=_hf_size(c["size"], label, shortest=True) if c["do_resize"] else None,
                   resample=c["resample"], rescale=rescale, mean=mean, std=std,
                   crop=_hf_size(c["crop_size"], label, shortest=False) if c["do_center_crop"] else None)


def _channels(value, key: str, label: str) -> tuple[float, ...]:
    values = [value] * 3 if isinstance(value, (int, float)) else value
    if not (isinstance(values, (list, tuple)) and values and all(isinstance(v, (int, float)) for v in values)):
        raise ValueError(f"{label}: {key}={value!r}: expected a number or one number per channel")
    return tuple(float(v) for v in values)


def _hf_size(size, label: str, *, shortest: bool):
    """Hugging Face's size: an int (a square, as the ViT processor reads it), {"height", "width"} or
    {"shortest_edge"} -> (H, W) or ("shortest", s)."""
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return (size, size)
    if isinstance(size, dict) and set(size) == {"height", "width"}:
        pair = (size["height"], size["width"])
        if all(isinstance(v, int) and v > 0 for v in pair):
            return pair
    edge = size.get("shortest_edge") if isinstance(size, dict) and set(size) == {"shortest_edge"} else None
    if shortest and isinstance(edge, int) and edge > 0:
        return ("shortest", edge)
    raise ValueError(f"{label}: size={size!r} is not supported: expected an int, {{'height', 'width'}}"
                     + (" or {'shortest_edge'}" if shortest else ""))


def _rgb_bytes(image) -> np.ndarray:
    """An image as (H, W, 3) uint8: grey is repeated over three channels, floats in [0, 1] are rounded to bytes."""
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    if x.ndim != 3 or x.shape[-1] != 3 or min(x.shape[:2]) < 1:
        raise ValueError(f"image has shape {x.shape}: expected (H, W, 3) RGB or (H, W) grey (drop an alpha channel "
                         f"with image[..., :3])")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating) and np.all(np.isfinite(x)) and x.min() >= 0 and x.max() <= 1:
        return np.rint(x * 255).astype(np.uint8)
    raise ValueError(f"image has dtype {x.dtype} with values in [{x.min()}, {x.max()}]: expected uint8 bytes or "
                     f"floats in [0, 1]")


def _centre_crop(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centre (h, w) of x (H, W, C), zero-padded where x is smaller (as Hugging Face crops)."""
    h, w = size
    H, W = x.shape[:2]
    pad_h, pad_w = max(h - H, 0), max(w - W, 0)
    if pad_h or pad_w:
        top, left = -(-pad_h // 2), -(-pad_w // 2)  # ceil, as Hugging Face pads
        x = np.pad(x, ((top, pad_h - top), (left, pad_w - left), (0, 0)))
        H, W = x.shape[:2]
    top, left = (H - h) // 2, (W - w) // 2
    return x[top:top + h, left:left + w]


def hf_preprocessor(name_or_path, *, revision: str | None = None, cache_dir=None) -> ImagePreprocessor:
    """The image preprocessing recorded with a checkpoint (its ``preprocessor_config.json``)."""
    folder = checkpoint_folder(name_or_path, revision=revision, cache_dir=cache_dir)
    return ImagePreprocessor.from_hf(_read_json(folder / "preprocessor_config.json"), name=str(name_or_path))


# ---- python -m vit_lessons.convert fetch NAME ... --------------------------------------------------------
def main(argv=None) -> int:
    """``fetch NAME ...``: download hub models into the Hugging Face cache and check that they load."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m vit_lessons.convert",
                                     description="Real checkpoints for the book (chapter 9b).")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("fetch", help="download Hugging Face models into the cache and check that they load")
    get.add_argument("names", nargs="+", help="hub names, e.g. google/vit-base-patch16-224 facebook/dino-vits16")
    get.add_argument("--revision", default=None, help="a branch, tag or commit (default: main)")
    get.add_argument("--cache-dir", default=None, help="the Hugging Face hub cache (default: the standard one)")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.names:
        try:
            folder = fetch(name, revision=args.revision, cache_dir=args.cache_dir)
            cfg, _ = load_hf(name, revision=args.revision, cache_dir=args.cache_dir)
        except (NotCachedError, ValueError, OSError) as error:
            print(f"{name}: {error}", file=sys.stderr)
            failed += 1
            continue
        kind = f"{cfg.num_classes} classes" if cfg.num_classes else "no head (features)"
        print(f"{name}: {cfg.num_layers} layers, D = {cfg.d_model}, {cfg.num_heads} heads, {cfg.num_tokens} tokens, "
              f"{kind}; in {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
