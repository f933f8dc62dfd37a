"""ViT-B/16 at 224, batch 8, CPU: vit_lessons' torch path vs an nn.TransformerEncoder model with the
same weights, and vit_lessons' numpy path vs its torch path.  Prints ratios measured side by side.

    python benchmarks/forward_speed.py [--batch 8] [--repeats 5] [--preset ViT-B/16]

The measurement runs twice, in two fresh processes: once with glibc's default allocator settings and
once with large-block caching (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_), the
usual CPU-inference tuning.  By default glibc gives every freed block over 32 MB back to the system,
so each new activation tensor costs fresh page faults; the library's unfused element-wise formulas
allocate more temporaries than PyTorch's fused kernels and pay more for it.  Both models always run
under the same settings in the same process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import vit_lessons as V


class TorchViT(torch.nn.Module):
    """The same model from PyTorch's own modules (Conv2d, TransformerEncoder, LayerNorm, Linear)."""

    def __init__(self, cfg: V.ViTConfig):
        super().__init__()
        D = cfg.d_model
        self.cfg = cfg
        self.patch_embed = torch.nn.Conv2d(cfg.channels, D, cfg.patch_size, cfg.stride, cfg.padding)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, cfg.num_tokens, D))
        layer = torch.nn.TransformerEncoderLayer(D, cfg.num_heads, cfg.d_ff, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=cfg.ln_eps, batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(D, eps=cfg.ln_eps)
        self.head = torch.nn.Linear(D, cfg.num_classes)

    def load_params(self, params: dict) -> None:
        t = {k: torch.from_numpy(v) for k, v in params.items()}
        sd = {"patch_embed.weight": t["patch_embed.weight"], "patch_embed.bias": t["patch_embed.bias"],
              "cls_token": t["cls_token"].reshape(1, 1, -1), "pos_embed": t["pos_embed"][None],
              "norm.weight": t["norm.weight"], "norm.bias": t["norm.bias"],
              "head.weight": t["head.weight"], "head.bias": t["head.bias"]}
        for i in range(self.cfg.num_layers):
            b, e = f"blocks.{i}.", f"encoder.layers.{i}."
            sd[e + "self_attn.in_proj_weight"] = torch.cat([t[f"{b}attn.{n}.weight"] for n in "qkv"])
            sd[e + "self_attn.in_proj_bias"] = torch.cat([t[f"{b}attn.{n}.bias"] for n in "qkv"])
            for ours, theirs in (("attn.proj", "self_attn.out_proj"), ("mlp.fc1", "linear1"), ("mlp.fc2", "linear2"),
                                 ("norm1", "norm1"), ("norm2", "norm2")):
                sd[e + theirs + ".weight"] = t[b + ours + ".weight"]
                sd[e + theirs + ".bias"] = t[b + ours + ".bias"]
        self.load_state_dict(sd)

    def forward(self, images):  # (B, H, W, C)
        x = self.patch_embed(images.permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.encoder(x))
        return self.head(x[:, 0])


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Run every function once per round, in turn, so each ratio compares runs taken moments apart."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return times


CACHING_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**36),
                     "MALLOC_TOP_PAD_": str(2**30)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="ViT-B/16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--measure", action="store_true", help="measure in this process (used by the parent run)")
    args = ap.parse_args()
    if not args.measure:
        for label, extra in (("glibc default allocator", {}), ("large-block caching allocator", CACHING_ALLOCATOR)):
            print(f"== {label}", flush=True)
            env = {k: v for k, v in os.environ.items() if k not in CACHING_ALLOCATOR} | extra
            subprocess.run([sys.executable, __file__, "--measure", *sys.argv[1:]], env=env, check=True)
        return

    cfg = V.preset(args.preset)
    params = V.init_params(cfg, 0)
    images = np.random.default_rng(0).random((args.batch, *cfg.image_size, cfg.channels), dtype=np.float32)
    timages = torch.from_numpy(images)
    tparams = V.to_torch(params)
    model = TorchViT(cfg).eval()
    model.load_params(params)

    with torch.inference_mode():
        diff = float((V.forward(tparams, timages, cfg) - model(timages)).abs().max())
        times = interleaved({"reference": lambda: model(timages),
                             "torch": lambda: V.forward(tparams, timages, cfg),
                             "numpy": lambda: V.forward(params, images, cfg)}, args.repeats)
    ratio_torch = statistics.median(t / r for t, r in zip(times["torch"], times["reference"], strict=True))
    ratio_numpy = statistics.median(n / t for n, t in zip(times["numpy"], times["torch"], strict=True))

    print(f"{cfg.name}, batch {args.batch}, {torch.get_num_threads()} threads, {args.repeats} interleaved rounds")
    print(f"  max |logit difference| torch path vs nn.TransformerEncoder: {diff:.2e}")
    for label, name in (("nn.TransformerEncoder model", "reference"), ("vit_lessons, torch path", "torch"),
                        ("vit_lessons, numpy path", "numpy")):
        print(f"  {label:28s}: median {statistics.median(times[name]):6.3f} s, best {min(times[name]):6.3f} s")
    print(f"  torch path / nn.TransformerEncoder = {ratio_torch:.2f}x  (median of per-round ratios; target <= 1.10x)")
    print(f"  numpy path / torch path            = {ratio_numpy:.2f}x  (median of per-round ratios; target <= 2.00x)")


if __name__ == "__main__":
    main()
