"""Chapter 11: reading real implementations.  Their parameter names, mapped onto ours.

Each mapping is a table of (our name, their name) pairs; a few of their tensors carry a
leading batch axis of 1 (the CLS token, the positional embedding), which is added or
dropped on the way.  The functions take and return plain dicts of numpy arrays or torch
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

#: Tensors the other libraries store as (1, T, D): the CLS token (1, 1, D) and the positions.
BATCHED = ("cls_token", "pos_embed")


def _their_name(table: dict, ours: str) -> str:
    parts = ours.split(".")
    if parts[0] == "blocks":
        return table[".".join(["blocks", "{i}", *parts[2:]])].format(i=parts[1])
    return table[ours]


def to_hf_vit(params: dict, cfg: ViTConfig) -> dict:
    """Our parameters as a ``ViTForImageClassification`` state dict (CLS pooling only)."""
    if cfg.pool != "cls":
        raise ValueError(f"cfg.pool={cfg.pool!r}: Hugging Face's ViTForImageClassification reads the CLS token; "
                         f"expected 'cls'")
    return {_their_name(HF_VIT_NAMES, k): (v.reshape(1, -1, v.shape[-1]) if k in BATCHED else v)
            for k, v in params.items()}


def from_hf_vit(state_dict: dict, cfg: ViTConfig) -> dict:
    """A ``ViTForImageClassification`` state dict as our parameters (the inverse of :func:`to_hf_vit`)."""
    out = {}
    for k, shape in param_shapes(cfg).items():
        theirs = _their_name(HF_VIT_NAMES, k)
        if theirs not in state_dict:
            raise ValueError(f"state_dict has no {theirs!r} (needed for our {k!r})")
        v = state_dict[theirs]
        out[k] = v.reshape(shape) if k in BATCHED else v
    return out
