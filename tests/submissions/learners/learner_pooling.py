"""Exercise 6, as learners write it: pooling, with one mistake."""

import numpy as np

MISTAKES = {None: None, "mean_over_features": "mean_over_features", "cls_in_mean": "cls_in_mean",
            "cls_instead_of_mean": "cls_instead_of_mean", "mean_instead_of_cls": "mean_instead_of_cls",
            "axis0": "batch=batched", "no_default": "call=prefix left out", "prefix_hard_coded": "prefix=none",
            "returns_list": None, "float32_result": "float32_result", "torch": None, "squeeze_batch": "batch=1",
            "float64_output": "float64_result"}


def build(mistake=None):
    m = mistake

    def pool(x, mode, num_prefix_tokens=0):
        if m == "squeeze_batch":  # "drop the leftover axis": a batch of one image loses its batch axis
            return build()["pool"](x, mode, num_prefix_tokens).squeeze()
        if m == "float64_output":  # the mean accumulated in float64
            return build()["pool"](x.astype(np.float64), mode, num_prefix_tokens)
        if m == "torch":
            import torch

            t = torch.from_numpy(x)
            return t[..., 0, :] if mode == "cls" else t[..., num_prefix_tokens:, :].mean(-2)
        if m == "float32_result":
            x = x.astype(np.float32)
        if m == "returns_list" and x.ndim == 3:
            return [pool(xi, mode, num_prefix_tokens) for xi in x]
        if m == "axis0":  # written for one image, (T, D)
            return x[0] if mode == "cls" else x[num_prefix_tokens:].mean(axis=0)
        if (mode == "cls" and m != "mean_instead_of_cls") or m == "cls_instead_of_mean":
            return x[..., 0, :]
        start = num_prefix_tokens
        if m == "prefix_hard_coded" or (m == "mean_instead_of_cls" and mode == "cls"):
            start = 1
        elif m == "cls_in_mean":
            start = 0
        return x[..., start:, :].mean(axis=-1 if m == "mean_over_features" else -2)

    if m == "no_default":
        def pool_without_default(x, mode, num_prefix_tokens):
            return pool(x, mode, num_prefix_tokens)

        return {"pool": pool_without_default}
    return {"pool": pool}
