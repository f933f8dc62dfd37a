"""Exercise 9, as learners write it: attention rollout, with one mistake."""

import numpy as np

MISTAKES = {None: None, "rollout_order": "rollout_order", "rollout_no_identity": "rollout_no_identity",
            "rollout_no_renorm": "rollout_no_renorm", "rollout_max_heads": "rollout_max_heads",
            "rollout_column": "rollout_column", "rollout_with_cls": "rollout_with_cls",
            "no_keepdims": None, "head0_only": "heads=several", "float32_result": "float32_result",
            "per_head_then_mean": "layers=several&heads=several", "float64_output": "float64_result"}


def _per_head(attentions):
    """Each head rolled out through the layers on its own, the heads averaged at the end."""
    T = attentions.shape[-1]
    eye = np.eye(T, dtype=attentions.dtype)
    rows = []
    for h in range(attentions.shape[1]):
        R = eye
        for layer in attentions:
            A = 0.5 * layer[h] + 0.5 * eye
            R = (A / A.sum(-1, keepdims=True)) @ R
        rows.append(R[0, 1:])
    return np.mean(rows, axis=0).astype(attentions.dtype)


def build(mistake=None):
    m = mistake

    def rollout(attentions):
        if m == "per_head_then_mean":
            return _per_head(attentions)
        T = attentions.shape[-1]
        eye = np.eye(T)
        R = eye
        for layer in attentions:
            A = layer.max(0) if m == "rollout_max_heads" else layer[0] if m == "head0_only" else layer.mean(0)
            if m == "rollout_no_renorm":
                A = A + eye
            elif m != "rollout_no_identity":
                A = 0.5 * A + 0.5 * eye
                A = A / A.sum(-1) if m == "no_keepdims" else A / A.sum(-1, keepdims=True)
            R = R @ A if m == "rollout_order" else A @ R
        out = R[1:, 0] if m == "rollout_column" else R[0] if m == "rollout_with_cls" else R[0, 1:]
        if m == "float64_output":  # np.eye(T) is float64: so is R
            return out
        return out.astype(np.float32 if m == "float32_result" else attentions.dtype)

    return {"rollout": rollout}
