"""Chapter 11: reading real implementations.  Their parameter names, mapped onto ours.

Each mapping is a table of (our name, their name) pairs, one table per library; where a
library fuses W_q, W_k, W_v into one tensor, their name is (fused name, slice index).  A few
of their tensors carry a leading batch axis of 1 (the CLS token, the positional embedding),
which is added or dropped on the way.  The functions take and return plain dicts of numpy arrays or torch
tensors, so no library needs to be imported to convert.
"""

from __future__ import annotations

from .config import ViTConfig, param_shapes

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
    return to_state_dict(params, TIMM_VIT_NAMES)


def from_timm_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A timm ``VisionTransformer`` state dict as our parameters (the inverse of :func:`to_timm_vit`)."""
    return from_state_dict(state_dict, cfg, TIMM_VIT_NAMES, "timm")


def to_torchvision_vit(params: dict, cfg: ViTConfig) -> dict:
    """Our parameters as a torchvision ``VisionTransformer`` state dict (CLS pooling only)."""
    if cfg.pool != "cls":
        raise ValueError(f"cfg.pool={cfg.pool!r}: torchvision's VisionTransformer reads the CLS token; "
                         f"expected 'cls'")
    return to_state_dict(params, TORCHVISION_VIT_NAMES)


def from_torchvision_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A torchvision ``VisionTransformer`` state dict as our parameters."""
    return from_state_dict(state_dict, cfg, TORCHVISION_VIT_NAMES, "torchvision")
