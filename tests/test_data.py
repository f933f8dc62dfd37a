"""The synthetic shapes and the photographs: determinism, masks consistent with the images, validation."""

import re

import numpy as np
import pytest

from vit_lessons.data import CLASS_NAMES, PHOTOS, make_shapes, photo


def test_shapes_types_shapes_and_ranges():
    d = make_shapes(50, seed=3)
    assert d.images.shape == (50, 32, 32, 3) and d.images.dtype == np.float32
    assert d.labels.shape == (50,) and d.labels.dtype == np.int64
    assert d.masks.shape == (50, 32, 32) and d.masks.dtype == bool
    assert d.class_names == CLASS_NAMES and len(d) == 50
    assert d.images.min() >= 0.0 and d.images.max() <= 1.0
    assert set(np.unique(d.labels)) <= set(range(len(CLASS_NAMES)))


def test_same_seed_same_bits_other_seed_other_images():
    a, b, c = make_shapes(40, seed=7), make_shapes(40, seed=7), make_shapes(40, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)


def test_masks_match_the_drawn_object():
    """Object pixels are the object's colour (up to the pixel noise); every object is large and lies inside."""
    d = make_shapes(200, seed=0, noise=0.0)
    area = d.masks.sum(axis=(1, 2))
    assert area.min() >= 30, "every object covers at least 30 pixels"
    for img, mask in zip(d.images, d.masks, strict=True):
        on = img[mask]
        np.testing.assert_allclose(on, np.broadcast_to(on[0], on.shape), atol=1e-6)  # one flat colour
    # the object is brighter than the background
    for img, m in zip(d.images, d.masks, strict=True):
        assert img[~m].max(axis=-1).mean() < img[m].max(axis=-1).mean()


def test_masks_differ_by_class():
    """A disc fills most of its bounding box, a ring has a hole: the fill ratio separates the classes."""
    d = make_shapes(300, seed=1)
    fill = {}
    for lab, m in zip(d.labels, d.masks, strict=True):
        rows, cols = np.where(m)
        box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        fill.setdefault(CLASS_NAMES[lab], []).append(m.sum() / box)
    assert np.mean(fill["disc"]) > 0.7 and np.mean(fill["ring"]) < 0.6
    assert np.mean(fill["cross"]) < np.mean(fill["square"])


def test_all_classes_and_generation_is_fast():
    import time

    t = time.perf_counter()
    d = make_shapes(2000, seed=5)
    assert time.perf_counter() - t < 5.0
    counts = np.bincount(d.labels, minlength=len(CLASS_NAMES))
    assert counts.min() > 300


@pytest.mark.parametrize("kwargs, word", [
    (dict(n=0, seed=0), "n=0"), (dict(n=5, seed=-1), "seed=-1"), (dict(n=5, seed=0, image_size=8), "image_size=8"),
    (dict(n=5, seed=0, radius=(0.3, 0.1)), "radius"), (dict(n=5, seed=0, noise=2.0), "noise=2.0"),
    (dict(n=5, seed=0, rotation=400), "rotation=400"), (dict(n=5, seed=0, clutter=-1), "clutter=-1"),
    (dict(n=5, seed=0, radius=0.3), "radius=0.3: expected a pair (low, high), a tuple or a list of two"),
    (dict(n=5, seed=0, radius=(0.3,)), "radius=(0.3,): expected a pair (low, high)"),
    (dict(n=5, seed=0, radius=(0.0, 0.3)), "radius[0]=0.0: expected a number in (0.0, 0.45]"),
    (dict(n=5, seed=0, radius=(0.2, "x")), "radius[1]='x'"),
])
def test_make_shapes_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=re.escape(word)):
        make_shapes(**kwargs)


def test_photo():
    p = photo("astronaut", 48)
    assert p.shape == (48, 48, 3) and p.dtype == np.float32
    assert 0.0 <= p.min() and p.max() <= 1.0 and p.std() > 0.1
    g = photo("camera", 16)  # greyscale, repeated over the channels
    np.testing.assert_array_equal(g[..., 0], g[..., 2])
    assert "chelsea" in PHOTOS and "coffee" in PHOTOS
    with pytest.raises(ValueError, match="name='nope'"):
        photo("nope")
