"""Checkpoints: safetensors files (nothing is ever unpickled) with the ``ViTConfig`` in the metadata.

A file holds the canonical parameters as float32 tensors, and in its string metadata
``"config"`` (``cfg.to_dict()`` as JSON), ``"data_sha256"`` (a digest of the tensor bytes, so a
flipped bit in the weights is caught) and any extra fields as JSON.  ``load_checkpoint`` reads
the header itself before handing the bytes to safetensors, so every defect (a pickle or a torch
zip renamed ``.safetensors``, a truncated or corrupted file, wrong keys, shapes or dtypes, a
missing config or one that does not match the tensors) raises a ``ValueError`` that says what
is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np

from .checks import check_instance
from .config import ViTConfig, check_config, param_shapes

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
PRETRAINED = {"shapes-cls": "shapes-cls.safetensors", "shapes-mean": "shapes-mean.safetensors"}
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def save_checkpoint(path, params: dict, cfg: ViTConfig, **metadata) -> Path:
    """Write ``params`` (canonical layout, numpy or torch; stored as float32) and ``cfg`` to ``path``.

    metadata : extra JSON-able fields (command line, accuracy, seeds, ...), returned by :func:`load_checkpoint`.
    Returns the path written.
    """
    from safetensors.numpy import save

    from .backend import to_numpy
    from .model import check_params

    check_config(cfg)
    check_params(params, cfg)
    reserved = {"config", "data_sha256"} & set(metadata)
    if reserved:
        raise ValueError(f"metadata keys {sorted(reserved)} are reserved (written by save_checkpoint)")
    arrays = {k: np.ascontiguousarray(to_numpy(params[k]), dtype=np.float32) for k in param_shapes(cfg)}
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    meta["config"] = json.dumps(cfg.to_dict())
    blob = save(arrays, metadata=meta)
    # the digest covers the tensor bytes, which do not depend on the metadata: compute, then write again
    header_len = struct.unpack("<Q", blob[:8])[0]
    meta["data_sha256"] = hashlib.sha256(blob[8 + header_len:]).hexdigest()
    path = Path(path)
    path.write_bytes(save(arrays, metadata=meta))
    return path


def _parse_header(raw: bytes, name: str) -> tuple[dict, int]:
    """(header dict, offset of the tensor bytes) of a safetensors byte string, with clear errors."""
    # A safetensors file is an 8-byte length and a JSON object: "{" at byte 8.  Only a file without
    # that is named by its first bytes (a header length can begin with 0x80 too).
    looks_safetensors = raw[8:9] == b"{"
    if not looks_safetensors and (raw[:1] == b"\x80" or raw[:4] == b"PK\x03\x04"):
        kind = "a pickle" if raw[:1] == b"\x80" else "a zip archive (torch.save)"
        raise ValueError(f"{name}: this is {kind}, not a safetensors file; pickles are never loaded")
    if len(raw) < 8:
        raise ValueError(f"{name}: {len(raw)} bytes, too short for a safetensors file (truncated?)")
    header_len = struct.unpack("<Q", raw[:8])[0]
    if header_len > _MAX_HEADER or 8 + header_len > len(raw):
        raise ValueError(f"{name}: the header claims {header_len} bytes but the file has {len(raw)}: "
                         "truncated or not a safetensors file")
    try:
        header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{name}: the safetensors header is not valid JSON (corrupted file?): {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{name}: the safetensors header is a {type(header).__name__}: expected a JSON object")
    data_start = 8 + header_len
    data_len = len(raw) - data_start
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not (isinstance(info, dict) and {"dtype", "shape", "data_offsets"} <= set(info)):
            raise ValueError(f"{name}: header entry {key!r} is malformed (corrupted file?)")
        dtype, shape, (lo, hi) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPE_BYTES:
            raise ValueError(f"{name}: tensor {key!r} has unknown dtype {dtype!r} (corrupted file?)")
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi) or any(
                not isinstance(s, int) or s < 0 for s in shape):
            raise ValueError(f"{name}: tensor {key!r} has invalid offsets {[lo, hi]} or shape {shape}")
        if hi - lo != int(np.prod(shape, dtype=np.int64)) * _DTYPE_BYTES[dtype]:
            raise ValueError(f"{name}: tensor {key!r} spans {hi - lo} bytes but shape {shape} of {dtype} needs "
                             f"{int(np.prod(shape)) * _DTYPE_BYTES[dtype]} (corrupted file?)")
        end = max(end, hi)
    if end != data_len:
        what = "truncated" if end > data_len else "has trailing bytes"
        raise ValueError(f"{name}: the tensors need {end} bytes of data but the file holds {data_len}: "
                         f"the file is {what}")
    return header, data_start


def _read(path) -> tuple[Path, bytes]:
    """(the path as a Path, the file's bytes); a clear error for what is not a file's path."""
    check_instance("path", path, (str, os.PathLike), how=" (the path of a .safetensors file)")
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.safetensors"))[:5]
        raise ValueError(f"path={str(path)!r} is a folder: expected a .safetensors file written by save_checkpoint"
                         + (f" (the folder has {found})" if found else ""))
    return path, path.read_bytes()


def load_checkpoint(path) -> tuple[ViTConfig, dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns (cfg, params, metadata): the ``ViTConfig`` from the metadata, the parameters as numpy
    float32 arrays in the canonical layout, and the extra metadata fields (JSON-decoded).
    Raises ``ValueError`` naming the defect for anything that is not such a checkpoint.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path, raw = _read(path)
    header, data_start = _parse_header(raw, str(path.name))
    meta = header.get("__metadata__") or {}
    if "config" not in meta:
        raise ValueError(f"{path.name}: the metadata has no 'config' (expected cfg.to_dict() as JSON); "
                         f"metadata keys: {sorted(meta)}")
    try:
        cfg = ViTConfig.from_dict(json.loads(meta["config"]))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ValueError(f"{path.name}: the metadata 'config' is not a valid ViTConfig: {e}") from None
    digest = meta.get("data_sha256")
    if digest is not None and hashlib.sha256(raw[data_start:]).hexdigest() != digest:
        raise ValueError(f"{path.name}: the tensor bytes do not match the recorded data_sha256 (corrupted file)")
    expected = param_shapes(cfg)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(f"{path.name}: the tensors do not match the config: missing {missing}, unexpected {extra}")
    for key, shape in expected.items():
        if tuple(tensors[key]["shape"]) != tuple(shape):
            raise ValueError(f"{path.name}: tensor {key!r} has shape {tuple(tensors[key]['shape'])}: "
                             f"expected {tuple(shape)} for the config in the metadata")
        if tensors[key]["dtype"] != "F32":
            raise ValueError(f"{path.name}: tensor {key!r} has dtype {tensors[key]['dtype']}: expected F32 (float32)")
    try:
        params = load(raw)
    except SafetensorError as e:
        raise ValueError(f"{path.name}: safetensors refused the file: {e}") from None
    params = {k: params[k] for k in expected}
    extra_meta = {}
    for k, v in meta.items():
        if k in ("config", "data_sha256"):
            continue
        try:
            extra_meta[k] = json.loads(v)
        except json.JSONDecodeError:
            extra_meta[k] = v
    return cfg, params, extra_meta


def load_pretrained(name: str) -> tuple[ViTConfig, dict[str, np.ndarray]]:
    """A shipped checkpoint by name: "shapes-cls" (CLS pooling) or "shapes-mean" (mean pooling), both
    trained on :func:`vit_lessons.data.make_shapes`.  Returns (cfg, params), params numpy float32."""
    if name not in PRETRAINED:
        raise ValueError(f"name={name!r}: expected one of {sorted(PRETRAINED)}")
    cfg, params, _ = load_checkpoint(PRETRAINED_DIR / PRETRAINED[name])
    return cfg, params


def pretrained_record(name: str) -> dict:
    """The JSON record shipped next to a pretrained checkpoint: the exact command line, the held-out
    accuracy with its test seed and size, training seconds, seeds, the config."""
    if name not in PRETRAINED:
        raise ValueError(f"name={name!r}: expected one of {sorted(PRETRAINED)}")
    return json.loads((PRETRAINED_DIR / PRETRAINED[name]).with_suffix(".json").read_text())
