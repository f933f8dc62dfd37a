"""Chapter 9: looking inside a trained ViT, and measuring how much the pictures can be trusted.

One module per job, all of it importable from here:

- :mod:`.maps`: attention capture, rollout, gradient rollout, patch-grid maps, DINO masks;
- :mod:`.faithfulness`: the maps scored against ground-truth object masks (pointing game, mass on the object);
- :mod:`.embeddings`: what the patch and position embeddings learned (the paper's Figure 7).
"""

from .embeddings import patch_filter_components, pos_embed_cosine
from .faithfulness import faithfulness, mass_on_object, object_patches, patch_coverage, pointing_game
from .maps import (
    HEAD_FUSIONS,
    attention_gradients,
    capture_attention,
    cls_attention,
    dino_mask,
    discard_lowest,
    fuse_heads,
    gradient_rollout,
    gradient_weighted_rollout,
    rollout,
    token_map,
)

__all__ = [
    "HEAD_FUSIONS",
    "attention_gradients",
    "capture_attention",
    "cls_attention",
    "dino_mask",
    "discard_lowest",
    "faithfulness",
    "fuse_heads",
    "gradient_rollout",
    "gradient_weighted_rollout",
    "mass_on_object",
    "object_patches",
    "patch_coverage",
    "patch_filter_components",
    "pointing_game",
    "pos_embed_cosine",
    "rollout",
    "token_map",
]
