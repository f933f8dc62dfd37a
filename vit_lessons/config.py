"""The ViT configuration: hyperparameters, validation, presets, parameter and FLOP counts.

Everything about a model's *shape* is decided here, once.  The rest of the
library reads these fields and derived properties and never recomputes them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .backend import is_array, is_float32_or_64
from .checks import channels_first_hint, check_array, check_instance, check_int, check_number

POOLS = ("mean", "cls")


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ViTConfig:
    """Hyperparameters of a Vision Transformer.

    image_size : (H, W) of the input image (an int means a square image).
    channels   : C, colour channels of the input (3 for RGB).
    patch_size : P, side of the square patch = kernel of the patch-embedding convolution.
    stride     : stride of that convolution (defaults to ``patch_size``: non-overlapping patches).
    padding    : zero padding of that convolution (0 for a ViT).
    d_model    : D, width of every token.
    num_heads  : attention heads; ``d_model`` must be divisible by it.
    d_ff       : F, hidden width of each block's MLP.
    num_layers : L, encoder blocks.
    num_classes: K, outputs of the classification head; 0 for a model without a head (a feature
                 extractor such as DINO's), whose forward returns the pooled features (..., D).
    pool       : "mean" (average the patch tokens) or "cls" (prepend a class token, read token 0).
    ln_eps     : epsilon of every LayerNorm (1e-6, as in the paper's code, timm and torchvision).
    """

    image_size: tuple[int, int]
    patch_size: int
    d_model: int
    num_heads: int
    d_ff: int
    num_layers: int
    num_classes: int
    channels: int = 3
    stride: int | None = None
    padding: int = 0
    pool: str = "cls"
    ln_eps: float = 1e-6
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        size = self.image_size
        if isinstance(size, int) and not isinstance(size, bool):
            size = (size, size)
        if not (isinstance(size, (tuple, list)) and len(size) == 2):
            raise ValueError(f"image_size={self.image_size!r}: expected an int or a pair (H, W) of ints")
        object.__setattr__(self, "image_size", tuple(size))
        if self.stride is None:
            object.__setattr__(self, "stride", self.patch_size)
        self._validate()

    def _validate(self) -> None:
        # numpy integers are accepted and stored as Python ints, so that to_dict() stays JSON-able
        H = check_int("image_size[0] (H)", self.image_size[0], 1)
        W = check_int("image_size[1] (W)", self.image_size[1], 1)
        object.__setattr__(self, "image_size", (H, W))
        for name in ("channels", "patch_size", "stride", "d_model", "num_heads", "d_ff",
                     "num_layers", "num_classes", "padding"):
            low = 0 if name in ("padding", "num_classes") else 1  # num_classes 0: no head (a feature extractor)
            object.__setattr__(self, name, check_int(name, getattr(self, name), low))
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}: "
                f"each head gets d_model / num_heads features, so pick d_model as a multiple of num_heads")
        if self.pool not in POOLS:
            raise ValueError(f"pool={self.pool!r}: expected one of {POOLS}")
        check_number("ln_eps", self.ln_eps, 0.0, low_open=True)
        P, s, p = self.patch_size, self.stride, self.padding
        if p >= P:
            raise ValueError(f"padding={p}: expected less than patch_size={P} "
                             f"(a window made only of padding sees nothing of the image)")
        for axis, size in (("H", H), ("W", W)):
            if P > size + 2 * p:
                raise ValueError(f"patch_size={P} is larger than the padded image side {axis}={size}+2*{p}")
        if s == P and p == 0:
            dropped = [f"{H % P} pixel rows (H={H})"] if H % P else []
            dropped += [f"{W % P} pixel columns (W={W})"] if W % P else []
            if dropped:
                raise ValueError(
                    f"image_size={self.image_size} is not a multiple of patch_size={P}: the patch embedding "
                    f"would silently drop the last {' and '.join(dropped)}; resize or crop the image to "
                    f"{max(H // P, 1) * P}x{max(W // P, 1) * P} first")

    # ---- derived shapes -------------------------------------------------------------
    @property
    def grid_size(self) -> tuple[int, int]:
        """(outH, outW): the patch grid, from the convolution output-size formula."""
        H, W = self.image_size
        return (conv_output_size(H, self.patch_size, self.stride, self.padding),
                conv_output_size(W, self.patch_size, self.stride, self.padding))

    @property
    def num_patches(self) -> int:
        """N = outH * outW (= HW / P^2 for non-overlapping patches)."""
        gh, gw = self.grid_size
        return gh * gw

    @property
    def num_prefix_tokens(self) -> int:
        """1 with a CLS token, else 0."""
        return 1 if self.pool == "cls" else 0

    @property
    def num_tokens(self) -> int:
        """T = N (+1 with a CLS token): the length of the encoder's sequence."""
        return self.num_patches + self.num_prefix_tokens

    @property
    def head_dim(self) -> int:
        """d = D / heads: the width of one attention head."""
        return self.d_model // self.num_heads

    @property
    def patch_dim(self) -> int:
        """P * P * C: the length of one flattened patch."""
        return self.patch_size * self.patch_size * self.channels

    def replace(self, **changes) -> ViTConfig:
        """A copy with some fields changed (validated again).

        A stride that followed the patch size (non-overlapping patches) keeps following it:
        ``preset("ViT-B/16").replace(patch_size=8)`` has stride 8, not 16.
        """
        _check_fields(changes)
        if "patch_size" in changes and "stride" not in changes and self.stride == self.patch_size:
            changes["stride"] = changes["patch_size"]
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able fields (used in checkpoint metadata)."""
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ViTConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        check_instance("d", d, dict)
        _check_fields(d)
        d = dict(d)
        if isinstance(d.get("image_size"), list):
            d["image_size"] = tuple(d["image_size"])
        return cls(**d)


def _check_fields(names) -> None:
    """Raise ``ValueError`` naming those of ``names`` that are not fields of :class:`ViTConfig`."""
    known = {f.name for f in dataclasses.fields(ViTConfig)}
    unknown = sorted(set(names) - known, key=str)
    if unknown:
        raise ValueError(f"config keys {unknown}: not fields of ViTConfig (expected some of {sorted(known)})")


def check_config(cfg, name: str = "cfg", *, how: str = " (from a dict of its fields: ViTConfig.from_dict(d))",
                 fields: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` unless ``cfg`` is a :class:`ViTConfig`: every public function taking a config
    checks it with this, before reading a field.  ``how`` (added after "expected a ViTConfig") says how to
    make one, by default from a dict.  ``fields``: the only fields the function reads, when any object that
    has them will do (a block reads ``num_heads`` and ``ln_eps``)."""
    if fields and all(hasattr(cfg, f) for f in fields):
        return
    check_instance(name, cfg, ViTConfig, how=how)


def check_params(params: dict, cfg: ViTConfig) -> None:
    """Raise ``ValueError`` naming the first missing, unexpected or mis-shaped parameter."""
    check_config(cfg)
    check_instance("params", params, dict, how=" of name -> array")
    expected = param_shapes(cfg)
    missing = [k for k in expected if k not in params]
    extra = [k for k in params if k not in expected]
    if missing or extra:
        raise ValueError(f"params keys do not match the config: missing {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
                         f"{' ...' if len(extra) > 5 else ''}")
    for name, shape in expected.items():
        got = tuple(params[name].shape) if is_array(params[name]) else None
        if got != shape:
            raise ValueError(f"params[{name!r}] has shape {got}: expected {shape}")


def check_images(images, cfg: ViTConfig, name: str = "images") -> None:
    """Raise ``ValueError`` unless ``images`` is a float32 or float64 (H, W, C) or (B, H, W, C) array
    matching cfg."""
    check_config(cfg)
    check_array(name, images)
    H, W = cfg.image_size
    shape = tuple(images.shape)
    if len(shape) not in (3, 4) or shape[-3:] != (H, W, cfg.channels):
        raise ValueError(f"{name} has shape {shape}: expected ({H}, {W}, {cfg.channels}) or "
                         f"(B, {H}, {W}, {cfg.channels}), channels last, for cfg.image_size={cfg.image_size}"
                         f"{channels_first_hint(shape)}")
    if not is_float32_or_64(images):
        raise ValueError(f"{name} has dtype {images.dtype}: expected float32 or float64 (convert with .astype)")


def _table1(name: str, patch: int, d: int, layers: int, heads: int, mlp: int) -> ViTConfig:
    return ViTConfig(image_size=(224, 224), patch_size=patch, d_model=d, num_heads=heads, d_ff=mlp,
                     num_layers=layers, num_classes=1000, pool="cls", name=name)


#: The paper's Table 1 models at 224x224 with 1000 classes (the CLS-token variant, as in the paper).
PRESETS: dict[str, ViTConfig] = {
    "ViT-B/16": _table1("ViT-B/16", 16, 768, 12, 12, 3072),
    "ViT-L/16": _table1("ViT-L/16", 16, 1024, 24, 16, 4096),
    "ViT-H/14": _table1("ViT-H/14", 14, 1280, 32, 16, 5120),
    # A model small enough to read every number of, and to train on a laptop CPU in seconds.
    "tiny": ViTConfig(image_size=(32, 32), patch_size=4, d_model=64, num_heads=4, d_ff=128,
                      num_layers=3, num_classes=6, pool="cls", name="tiny"),
}


def preset(name: str, **changes) -> ViTConfig:
    """One of :data:`PRESETS`, optionally with some fields changed (e.g. ``pool="mean"``)."""
    if name not in PRESETS:
        raise ValueError(f"name={name!r}: expected one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]


def param_shapes(cfg: ViTConfig) -> dict[str, tuple[int, ...]]:
    """The canonical parameter layout: state_dict-style name -> shape, in a fixed order.

    Linear weights follow PyTorch's convention y = x @ W.T + b, so W is (out, in).
    """
    check_config(cfg)
    D, C, P, F, K = cfg.d_model, cfg.channels, cfg.patch_size, cfg.d_ff, cfg.num_classes
    shapes: dict[str, tuple[int, ...]] = {"patch_embed.weight": (D, C, P, P), "patch_embed.bias": (D,)}
    if cfg.pool == "cls":
        shapes["cls_token"] = (D,)
    shapes["pos_embed"] = (cfg.num_tokens, D)
    for i in range(cfg.num_layers):
        b = f"blocks.{i}."
        shapes[b + "norm1.weight"] = (D,)
        shapes[b + "norm1.bias"] = (D,)
        for lin in ("q", "k", "v", "proj"):
            shapes[b + f"attn.{lin}.weight"] = (D, D)
            shapes[b + f"attn.{lin}.bias"] = (D,)
        shapes[b + "norm2.weight"] = (D,)
        shapes[b + "norm2.bias"] = (D,)
        shapes[b + "mlp.fc1.weight"] = (F, D)
        shapes[b + "mlp.fc1.bias"] = (F,)
        shapes[b + "mlp.fc2.weight"] = (D, F)
        shapes[b + "mlp.fc2.bias"] = (D,)
    shapes["norm.weight"] = (D,)
    shapes["norm.bias"] = (D,)
    if K:  # a model without a head (num_classes=0) ends at the pooled features
        shapes["head.weight"] = (K, D)
        shapes["head.bias"] = (K,)
    return shapes


def num_params(cfg: ViTConfig) -> int:
    """Exact number of learnable scalars (ViT-B/16: 86,567,656)."""
    return sum(math.prod(s) for s in param_shapes(cfg).values())


def flops(cfg: ViTConfig) -> int:
    """Multiply-accumulates for one image (ViT-B/16 at 224: 17.56 G).

    Counts the matrix products: the patch embedding (N * P^2 C * D), per block the four D x D
    projections (4 T D^2), the two attention products Q K^T and A V (2 T^2 D) and the MLP
    (2 T D F), and the head (D K).  Element-wise work (LayerNorm, GELU, softmax) is not counted.
    """
    check_config(cfg)
    T, D, F = cfg.num_tokens, cfg.d_model, cfg.d_ff
    per_block = 4 * T * D * D + 2 * T * T * D + 2 * T * D * F
    return cfg.num_patches * cfg.patch_dim * D + cfg.num_layers * per_block + D * cfg.num_classes
