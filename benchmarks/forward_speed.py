"""ViT-B/16 at 224, batch 8, CPU: vit_lessons' ``forward`` (eager torch, ``torch.compile``d, numpy) against
hand-written PyTorch with the same weights.  Prints ratios measured side by side in one run.

    python benchmarks/forward_speed.py [--batch 8] [--repeats 5] [--preset ViT-B/16] [--allocator both]
                                       [--threads N]

The references: a plain ``torch.nn.functional`` model (F.conv2d, F.layer_norm, fused q/k/v F.linear,
F.scaled_dot_product_attention, F.gelu: what one writes by hand in PyTorch, the targets' yardstick) and
the same model from ``nn.TransformerEncoder``.  The compiled path is ``torch.compile(vit_lessons.forward)``:
the very function the book reads, compiled once (its compile time is printed), called like the original.

Each round runs every engine once, in turn, so each per-round ratio compares runs taken moments apart;
the ratios printed are medians of per-round ratios.  The measurement runs in fresh processes, once with
glibc's default allocator settings and once with large-block caching (MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_), the usual CPU-inference tuning: by default glibc gives every
freed block over 32 MB back to the system, so each new activation tensor costs fresh page faults, and
the library's unfused element-wise formulas allocate more temporaries than PyTorch's fused kernels.
All engines always run under the same settings in the same process.  ``--threads`` sets torch's CPU
threads and numpy's BLAS threads (default: their own choice); on a loaded machine every parallel
region of an operation waits for its slowest thread, which costs the engine that runs the most
operations (eager) the most.
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
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import vit_lessons as V  # noqa: E402

TARGETS = {"compiled / F reference": 1.0, "eager / F reference": 1.25, "numpy / eager": 2.0}


def fused_qkv(params: dict, cfg: V.ViTConfig) -> dict:
    """Our parameters with each block's q, k, v stacked into one (3D, D) matrix, as PyTorch models store them."""
    p = dict(params)
    for i in range(cfg.num_layers):
        b = f"blocks.{i}.attn."
        p[b + "qkv.weight"] = torch.cat([params[f"{b}{n}.weight"] for n in "qkv"])
        p[b + "qkv.bias"] = torch.cat([params[f"{b}{n}.bias"] for n in "qkv"])
    return p


def functional_vit(p: dict, images, cfg: V.ViTConfig):
    """The ViT written by hand with torch.nn.functional.  p: :func:`fused_qkv` parameters; images (B, H, W, C)."""
    B, D, H = images.shape[0], cfg.d_model, cfg.num_heads
    x = F.conv2d(images.permute(0, 3, 1, 2), p["patch_embed.weight"], p["patch_embed.bias"], stride=cfg.stride,
                 padding=cfg.padding).flatten(2).transpose(1, 2)
    if cfg.pool == "cls":
        x = torch.cat([p["cls_token"].expand(B, 1, D), x], dim=1)
    x = x + p["pos_embed"]
    T = x.shape[1]
    for i in range(cfg.num_layers):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (D,), p[b + "norm1.weight"], p[b + "norm1.bias"], cfg.ln_eps)
        q, k, v = F.linear(h, p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"]).reshape(B, T, 3, H, D // H) \
            .permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(a, p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        h = F.layer_norm(x, (D,), p[b + "norm2.weight"], p[b + "norm2.bias"], cfg.ln_eps)
        h = F.gelu(F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"])
    x = F.layer_norm(x, (D,), p["norm.weight"], p["norm.bias"], cfg.ln_eps)
    x = x[:, 0] if cfg.pool == "cls" else x.mean(dim=1)
    return F.linear(x, p["head.weight"], p["head.bias"])


class EncoderViT(torch.nn.Module):
    """The same model from PyTorch's own modules (Conv2d, TransformerEncoder, LayerNorm, Linear); CLS pooling."""

    def __init__(self, cfg: V.ViTConfig, params: dict):
        super().__init__()
        D = cfg.d_model
        self.patch_embed = torch.nn.Conv2d(cfg.channels, D, cfg.patch_size, cfg.stride, cfg.padding)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, cfg.num_tokens, D))
        layer = torch.nn.TransformerEncoderLayer(D, cfg.num_heads, cfg.d_ff, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=cfg.ln_eps, batch_first=True, norm_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(D, eps=cfg.ln_eps)
        self.head = torch.nn.Linear(D, cfg.num_classes)
        self.load_state_dict(self._state_dict(params, cfg))

    @staticmethod
    def _state_dict(t: dict, cfg: V.ViTConfig) -> dict:
        sd = {k: t[k] for k in ("patch_embed.weight", "patch_embed.bias", "norm.weight", "norm.bias", "head.weight",
                                "head.bias")}
        sd |= {"cls_token": t["cls_token"].reshape(1, 1, -1), "pos_embed": t["pos_embed"][None]}
        for i in range(cfg.num_layers):
            b, e = f"blocks.{i}.", f"encoder.layers.{i}."
            sd[e + "self_attn.in_proj_weight"] = t[b + "attn.qkv.weight"]
            sd[e + "self_attn.in_proj_bias"] = t[b + "attn.qkv.bias"]
            for ours, theirs in (("attn.proj", "self_attn.out_proj"), ("mlp.fc1", "linear1"), ("mlp.fc2", "linear2"),
                                 ("norm1", "norm1"), ("norm2", "norm2")):
                sd[e + theirs + ".weight"] = t[b + ours + ".weight"]
                sd[e + theirs + ".bias"] = t[b + ours + ".bias"]
        return sd

    def forward(self, images):  # (B, H, W, C)
        x = self.patch_embed(images.permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.encoder(x))[:, 0])


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


def median_ratio(times: dict, num: str, den: str) -> float:
    return statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))


CACHING_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**36),
                     "MALLOC_TOP_PAD_": str(2**30)}
ALLOCATORS = {"default": ("glibc default allocator", {}), "caching": ("large-block caching allocator",
                                                                      CACHING_ALLOCATOR)}


def measure(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = V.preset(args.preset)
    params = V.init_params(cfg, 0)
    images = np.random.default_rng(0).random((args.batch, *cfg.image_size, cfg.channels), dtype=np.float32)
    timages, tparams = torch.from_numpy(images), V.to_torch(params)
    fparams = fused_qkv(tparams, cfg)
    module = EncoderViT(cfg, fparams).eval()
    compiled = torch.compile(V.forward, fullgraph=True)
    with torch.inference_mode():
        t0 = time.perf_counter()
        compiled(tparams, timages, cfg)
        compile_seconds = time.perf_counter() - t0
        reference = functional_vit(fparams, timages, cfg)
        diffs = {name: float((fn() - reference).abs().max()) for name, fn in (
            ("eager", lambda: V.forward(tparams, timages, cfg)), ("compiled", lambda: compiled(tparams, timages, cfg)),
            ("nn.TransformerEncoder", lambda: module(timages)))}
        times = interleaved({"F reference": lambda: functional_vit(fparams, timages, cfg),
                             "nn.TransformerEncoder": lambda: module(timages),
                             "compiled": lambda: compiled(tparams, timages, cfg),
                             "eager": lambda: V.forward(tparams, timages, cfg),
                             "numpy": lambda: V.forward(params, images, cfg)}, args.repeats)
    report(cfg, args, times, diffs, compile_seconds)


def report(cfg, args, times: dict, diffs: dict, compile_seconds: float) -> None:
    print(f"{cfg.name}, batch {args.batch}, {torch.get_num_threads()} threads, {args.repeats} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.2f}; torch.compile took {compile_seconds:.1f} s")
    print("  max |logit difference| from the F reference: "
          + ", ".join(f"{name} {d:.1e}" for name, d in diffs.items()))
    for name, t in times.items():
        print(f"  {name:24s}: median {statistics.median(t):6.3f} s, best {min(t):6.3f} s")
    ratios = {"compiled / F reference": median_ratio(times, "compiled", "F reference"),
              "eager / F reference": median_ratio(times, "eager", "F reference"),
              "numpy / eager": median_ratio(times, "numpy", "eager"),
              "compiled / nn.TransformerEncoder": median_ratio(times, "compiled", "nn.TransformerEncoder"),
              "eager / nn.TransformerEncoder": median_ratio(times, "eager", "nn.TransformerEncoder")}
    for name, r in ratios.items():
        target = f"target <= {TARGETS[name]:.2f}x" if name in TARGETS else "context"
        print(f"  {name:33s} = {r:.2f}x  (median of per-round ratios; {target})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="ViT-B/16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--allocator", choices=("both", *ALLOCATORS), default="both")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--measure", action="store_true", help="measure in this process (used by the parent run)")
    args = ap.parse_args()
    if args.measure:
        return measure(args)
    for key in ALLOCATORS if args.allocator == "both" else (args.allocator,):
        label, extra = ALLOCATORS[key]
        print(f"== {label}", flush=True)
        env = {k: v for k, v in os.environ.items() if k not in CACHING_ALLOCATOR} | extra
        if args.threads:  # numpy's BLAS too, so that every engine runs on the same number of threads
            env |= {name: str(args.threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        passed = ["--preset", args.preset, "--batch", str(args.batch), "--repeats", str(args.repeats),
                  "--threads", str(args.threads)]
        subprocess.run([sys.executable, __file__, "--measure", *passed], env=env, check=True)


if __name__ == "__main__":
    main()
