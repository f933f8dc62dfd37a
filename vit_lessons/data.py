"""Data for the book: a synthetic shapes dataset with ground-truth object masks, and real photographs.

``make_shapes`` draws one object (disc, square, triangle, cross or ring) per image, at a random
position, size, rotation and colour, on a dark, smooth random background with pixel noise and a
few small distractor blobs.  Each class has its own colour family (:data:`CLASS_HUES`) as well as
its shape, so a tiny ViT learns the task in well under a minute on a CPU; the distractors take
the colours of random classes, so the evidence is the large object, not any coloured pixel.  With
``shape_only=True`` the object's hue is random and every class covers the same area, so that only
its shape tells the class (the data of chapter 12's comparison of a ViT with a CNN).  The
object is drawn last, so its mask is exactly the set of pixels that show it: the ground truth
against which the attention maps are scored.

Everything is vectorised over the batch and deterministic in ``seed`` and ``n``; 10 000 images of 32 x 32
take about a second.  ``photo`` returns a photograph that ships inside scikit-image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_instance, check_int, check_number, check_pair, require
from .ops import bilinear_matrix

CLASS_NAMES = ("disc", "square", "triangle", "cross", "ring")


@dataclass(frozen=True)
class Shapes:
    """A batch of the synthetic dataset.

    images      : (n, H, W, C) float32 in [0, 1], channels last.
    labels      : (n,) int64, index into ``class_names``.
    masks       : (n, H, W) bool, True on the pixels that show the object.
    class_names : the K class names, ``class_names[labels[i]]`` names image i's object.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def check_shapes(data, name: str = "data") -> None:
    """Raise ``ValueError`` unless ``data`` is a :class:`Shapes` (the only data the training functions take)."""
    check_instance(name, data, Shapes, how=" (images, labels, masks, class_names), e.g. vit_lessons.make_shapes(n, "
                   "seed) or vit_lessons.data.Shapes(images, labels, masks, class_names)")


def _shape_masks(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    """Inside-tests of every class in the object's own frame.

    u, v : (N, H, W) pixel-centre coordinates relative to the object's centre, rotated into its frame.
    r    : (N, 1, 1) the object's radius in pixels.
    Returns name -> (N, H, W) bool.  The sizes are chosen so that the classes cover similar areas.
    """
    rho2 = u * u + v * v
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
    # equilateral triangle of circumradius 1.15 r: inside all three half-planes dot(p, n_k) <= R/2
    R = 1.15 * r
    triangle = np.ones_like(square)
    for angle in (-0.5 * math.pi, math.pi / 6, 5 * math.pi / 6):
        triangle &= u * math.cos(angle) + v * math.sin(angle) <= 0.5 * R
    w = 0.32 * r
    cross = ((np.abs(u) <= w) & (np.abs(v) <= r)) | ((np.abs(v) <= w) & (np.abs(u) <= r))
    return {
        "disc": rho2 <= (0.9 * r) ** 2,
        "square": square,
        "triangle": triangle,
        "cross": cross,
        "ring": (rho2 <= r * r) & (rho2 >= (0.55 * r) ** 2),
    }


# each class has a colour family (hue in degrees): disc red, square green, triangle blue, cross yellow, ring magenta
CLASS_HUES = (0.0, 120.0, 230.0, 55.0, 300.0)


def _class_colours(rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    """(n, 3) float32 RGB colours of the given classes' colour families: hue within 12 degrees of
    :data:`CLASS_HUES`, saturation in [0.6, 1], value in [0.8, 1] (brighter than every background)."""
    hue = (np.asarray(CLASS_HUES)[classes] + rng.uniform(-12.0, 12.0, len(classes))) % 360.0 / 360.0
    return _bright_colours(rng, hue)


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) float32 RGB colours of any hue (uniform over the circle), as saturated and as bright as
    :func:`_class_colours`: the colour of ``shape_only`` objects, which says nothing about their class."""
    return _bright_colours(rng, rng.uniform(0.0, 1.0, n))


def _bright_colours(rng: np.random.Generator, hue: np.ndarray) -> np.ndarray:
    """(n, 3) float32 RGB of the hues (n,) in [0, 1), saturation in [0.6, 1] and value in [0.8, 1]."""
    hsv2rgb = require("skimage.color").hsv2rgb
    n = len(hue)
    hsv = np.stack([hue, rng.uniform(0.6, 1.0, n), rng.uniform(0.8, 1.0, n)], axis=-1)
    return hsv2rgb(hsv[:, None, :])[:, 0, :].astype(np.float32)


# area of each class's shape (as drawn by _shape_masks) in units of r^2: a disc of radius 0.9 r, a square of
# side 1.6 r, a triangle of circumradius 1.15 r, a cross of two 2 r x 0.64 r bars, a ring between 0.55 r and r
SHAPE_AREAS = (0.81 * math.pi, 2.56, 0.75 * math.sqrt(3) * 1.15**2, 2 * 1.28 - 0.64**2, math.pi * (1 - 0.55**2))
# with shape_only the radius of each class is scaled so that every class covers the same area on average
_EQUAL_AREA_SCALE = np.sqrt(np.mean(SHAPE_AREAS) / np.asarray(SHAPE_AREAS))


def make_shapes(n: int, seed: int, image_size: int = 32, *, radius: tuple[float, float] = (0.17, 0.3),
                clutter: int = 3, noise: float = 0.04, texture: float = 0.2,
                rotation: float = 180.0, shape_only: bool = False) -> Shapes:
    """``n`` images of one object each, on a textured, noisy, cluttered background.

    The object's class decides its shape and, by default (the data of the shipped models), its colour
    family (hue within 12 degrees of ``CLASS_HUES[label]``).  With ``shape_only=True`` only the shape
    tells the class: the hue is uniform over the colour circle, and each class's radius is scaled so
    that all classes cover the same area (the count of bright pixels says nothing either).  The
    position, radius, rotation, saturation and brightness are random either way; the same seed gives
    the same labels, background, clutter and noise with and without ``shape_only``.

    n          : number of images.
    seed       : the same seed and arguments (``n`` included) give the same images, labels and masks, bit
                 for bit.  All of a call's random numbers come from one stream, drawn in a fixed order
                 (every label, then every background, ...), so another ``n`` gives other images (only
                 the labels of the first images agree): to take the first images of a set, draw the
                 whole set and slice it.
    image_size : H = W in pixels (>= 16).
    radius     : (low, high) range of the object's radius as a fraction of ``image_size`` (a pair, even
                 for one size: ``(0.3, 0.3)``), 0 < low <= high <= 0.45.
    clutter    : up to this many distractor blobs per image (each smaller than any object); 0 for none.
    noise      : standard deviation of the Gaussian pixel noise.
    texture    : amplitude of the smooth random background texture.
    rotation   : the object is rotated by an angle uniform in [-rotation, rotation] degrees.
    shape_only : the object's colour and area independent of its class.
    Returns :class:`Shapes` with images (n, H, W, 3) float32 in [0, 1], labels (n,) int64, masks (n, H, W) bool.
    """
    check_int("n", n, 1)
    check_int("seed", seed, 0)
    check_int("image_size", image_size, 16)
    check_int("clutter", clutter, 0)
    low, high = check_pair("radius", radius, check_number, what="(low, high)", low=0.0, high=0.45, low_open=True)
    if low > high:
        raise ValueError(f"radius={radius!r}: expected (low, high) with 0 < low <= high <= 0.45")
    check_number("rotation", rotation, 0.0, 180.0, unit="degrees")
    check_number("noise", noise, 0.0, 1.0)
    check_number("texture", texture, 0.0, 1.0)
    if not isinstance(shape_only, (bool, np.bool_)):
        raise ValueError(f"shape_only={shape_only!r}: expected True or False")
    rng = np.random.default_rng(seed)  # one stream, drawn in a fixed order: labels, background, object, noise
    labels = rng.integers(0, len(CLASS_NAMES), n).astype(np.int64)
    images = _background(rng, n, image_size, texture, clutter)
    masks, colour = _objects(rng, labels, image_size, radius, rotation, shape_only)
    images = np.where(masks[..., None], colour, images)
    images += noise * rng.standard_normal(images.shape, dtype=np.float32)
    images = np.clip(images, 0.0, 1.0, out=images)
    return Shapes(images=images, labels=labels, masks=masks, class_names=CLASS_NAMES)


def _pixel_centres(S: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs), each (S, S) float32: the coordinates of every pixel's centre."""
    centres = np.arange(S, dtype=np.float32) + 0.5
    return np.meshgrid(centres, centres, indexing="ij")


def _background(rng: np.random.Generator, n: int, S: int, texture: float, clutter: int) -> np.ndarray:
    """(n, S, S, 3) float32: a base colour plus a smooth texture (a 4 x 4 random grid, bilinearly
    upsampled), with up to ``clutter`` distractor discs of radius 1-2 px in random classes' colours."""
    base = rng.uniform(0.1, 0.4, (n, 1, 1, 3)).astype(np.float32)
    coarse = rng.uniform(-1.0, 1.0, (n, 4, 4, 3)).astype(np.float32)
    up = bilinear_matrix(4, S).astype(np.float32)  # (S, 4)
    images = base + texture * np.einsum("yi,nijc,xj->nyxc", up, coarse, up, optimize=True)
    ys, xs = _pixel_centres(S)
    for _ in range(clutter):
        present = rng.random(n) < 0.7
        cy, cx = rng.uniform(2, S - 2, (2, n, 1, 1)).astype(np.float32)
        rr = rng.uniform(1.0, 2.0, (n, 1, 1)).astype(np.float32)
        colour = _class_colours(rng, rng.integers(0, len(CLASS_NAMES), n))[:, None, None, :]
        blob = ((ys - cy) ** 2 + (xs - cx) ** 2 <= rr * rr) & present[:, None, None]
        images = np.where(blob[..., None], colour, images)
    return images


def _objects(rng: np.random.Generator, labels: np.ndarray, S: int, radius: tuple[float, float],
             rotation: float, shape_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """One object per label, placed, sized and rotated at random: (masks (n, S, S) bool, colours (n, 1, 1, 3)).
    With ``shape_only`` its colour is any hue and its radius scaled so that every class covers the same area."""
    n = len(labels)
    r = rng.uniform(radius[0] * S, radius[1] * S, (n, 1, 1))
    if shape_only:
        r = r * _EQUAL_AREA_SCALE[labels][:, None, None]
    margin = 1.05 * r
    cy = (margin + rng.random((n, 1, 1)) * (S - 2 * margin)).astype(np.float32)
    cx = (margin + rng.random((n, 1, 1)) * (S - 2 * margin)).astype(np.float32)
    theta = np.deg2rad(rotation) * rng.uniform(-1.0, 1.0, (n, 1, 1))
    r, cos, sin = r.astype(np.float32), np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    ys, xs = _pixel_centres(S)
    dy, dx = ys - cy, xs - cx
    inside = _shape_masks(cos * dx + sin * dy, cos * dy - sin * dx, r)
    masks = np.stack([inside[name] for name in CLASS_NAMES], axis=1)[np.arange(n), labels]
    rgb = _random_colours(rng, n) if shape_only else _class_colours(rng, labels)
    return masks, rgb[:, None, None, :]


# ---- photographs ---------------------------------------------------------------------------------
# name -> file inside skimage's data directory (only images that ship with the package: no downloads)
PHOTOS = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "motorcycle": "motorcycle_left.png",
    "camera": "camera.png",
    "coins": "coins.png",
    "moon": "moon.png",
    "horse": "horse.png",
}


def photo(name: str = "astronaut", size: int = 224) -> np.ndarray:
    """A photograph that ships with scikit-image, centre-cropped to a square and resized.

    name : one of :data:`PHOTOS` (e.g. "astronaut", "chelsea", "coffee").
    size : side of the square result in pixels.
    Returns (size, size, 3) float32 in [0, 1]; greyscale photographs are repeated over the 3 channels.
    """
    if name not in PHOTOS:
        raise ValueError(f"name={name!r}: expected one of {sorted(PHOTOS)}")
    check_int("size", size, 1)
    skimage_data, skimage_io, transform = (require(f"skimage.{m}") for m in ("data", "io", "transform"))
    path = Path(skimage_data.data_dir) / PHOTOS[name]
    if not path.exists():
        raise ValueError(f"name={name!r}: the photograph is not in this scikit-image installation ({path.name})")
    image = skimage_io.imread(path)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top:top + side, left:left + side]
    out = transform.resize(image, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    scale = 255.0 if np.issubdtype(image.dtype, np.integer) else 1.0
    return np.clip(out / scale, 0.0, 1.0).astype(np.float32)
