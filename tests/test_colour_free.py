"""make_shapes(shape_only=True): the same scenes with the object recoloured and resized, so that only the
shape tells the class.  Classifiers that see colour or size but not shape (the mean colour of the object,
its hue histogram, the colour histogram of the whole image, brightness and saturation, the object's area)
are at chance on it (also as the data-scaling experiment draws it: larger shapes, no distractors), and
those that see colour are far above chance on the default data."""

import numpy as np
import pytest
from skimage.color import rgb2hsv

from vit_lessons.data import make_shapes
from vit_lessons.experiments import DATA

# the variants: the default data, shape-only with make_shapes' defaults, shape-only as chapter 12's sweep draws it
VARIANTS = {"default": dict(), "shape_only": dict(shape_only=True), "experiment": dict(shape_only=True, **DATA)}

N_TRAIN, N_TEST, K = 2000, 2000, 5
# chance is 1/K; three standard errors of an accuracy measured on N_TEST images above it
CHANCE_BOUND = 1 / K + 3 * np.sqrt((1 / K) * (1 - 1 / K) / N_TEST)


def _object_pixels(d):
    """(N, M, 3) RGB of each object's pixels, M the smallest object's area (a random subset of larger ones)."""
    m = int(d.masks.sum(axis=(1, 2)).min())
    rng = np.random.default_rng(0)
    return np.stack([img[mask][rng.permutation(int(mask.sum()))[:m]] for img, mask in zip(d.images, d.masks,
                                                                                          strict=True)])


def mean_object_colour(d):
    return _object_pixels(d).mean(axis=1)                                       # (N, 3)


def object_hue_histogram(d):
    hsv = rgb2hsv(_object_pixels(d))                                            # (N, M, 3)
    return np.stack([np.histogram(h, bins=12, range=(0, 1))[0] for h in hsv[..., 0]]).astype(float)


def image_colour_histogram(d):
    """No mask: a joint 4 x 4 x 4 RGB histogram of all the image's pixels."""
    q = np.minimum((d.images * 4).astype(int), 3).reshape(len(d), -1, 3)
    codes = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
    return np.stack([np.bincount(c, minlength=64) for c in codes]).astype(float)


def object_brightness_saturation(d):
    hsv = rgb2hsv(_object_pixels(d))
    return np.concatenate([hsv[..., 1:].mean(axis=1), hsv[..., 1:].std(axis=1)], axis=1)


def object_area(d):
    return d.masks.sum(axis=(1, 2))[:, None].astype(float)


FEATURES = [mean_object_colour, object_hue_histogram, image_colour_histogram, object_brightness_saturation,
            object_area]
COLOUR_FEATURES = (mean_object_colour, object_hue_histogram, image_colour_histogram)


def logistic_regression_accuracy(x_train, y_train, x_test, y_test, steps: int = 300) -> float:
    """Held-out accuracy of a multinomial logistic regression on standardised features (full-batch
    gradient descent on the convex cross-entropy, a little L2)."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    onehot = np.eye(K)[y_train]
    w, c = np.zeros((a.shape[1], K)), np.zeros(K)
    for _ in range(steps):
        z = a @ w + c
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(a)
        w -= 0.5 * (a.T @ g + 1e-4 * w)
        c -= 0.5 * g.sum(0)
    return float(((b @ w + c).argmax(1) == y_test).mean())


def knn_accuracy(x_train, y_train, x_test, y_test, k: int = 15) -> float:
    """Held-out accuracy of a k-nearest-neighbour vote (standardised features): no model of the cue assumed."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    d2 = (b * b).sum(1)[:, None] - 2 * b @ a.T + (a * a).sum(1)[None, :]
    nearest = np.argsort(d2, axis=1)[:, :k]
    votes = np.apply_along_axis(np.bincount, 1, y_train[nearest], minlength=K)
    return float((votes.argmax(1) == y_test).mean())


@pytest.fixture(scope="module")
def features():
    """(feature name, variant) -> (train features, train labels, test features, test labels)."""
    out = {}
    for variant, options in VARIANTS.items():
        train, test = make_shapes(N_TRAIN, 21, **options), make_shapes(N_TEST, 22, **options)
        for f in FEATURES:
            out[f.__name__, variant] = (f(train), train.labels, f(test), test.labels)
    return out


@pytest.mark.parametrize("variant", ["shape_only", "experiment"])
@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("classifier", [logistic_regression_accuracy, knn_accuracy], ids=["logistic", "knn"])
def test_colour_or_size_alone_is_at_chance_on_shape_only_data(features, feature, classifier, variant):
    accuracy = {v: classifier(*features[feature.__name__, v]) for v in ("default", variant)}
    assert accuracy[variant] < CHANCE_BOUND, accuracy
    if feature in COLOUR_FEATURES:      # the default's classes differ in hue (not in brightness)
        assert accuracy["default"] > 0.9, accuracy


def test_the_same_scenes_with_the_object_recoloured_and_resized():
    """Same seed: the same labels, background, clutter and noise; only the object differs."""
    a, b = make_shapes(300, 5), make_shapes(300, 5, shape_only=True)
    np.testing.assert_array_equal(a.labels, b.labels)
    outside = ~a.masks & ~b.masks
    np.testing.assert_array_equal(a.images[outside], b.images[outside])
    assert not np.allclose(a.images[a.masks & b.masks], b.images[a.masks & b.masks])
    # the object is still exactly the masked pixels (one flat colour before the noise)
    c = make_shapes(100, 5, shape_only=True, noise=0.0)
    for img, mask in zip(c.images, c.masks, strict=True):
        np.testing.assert_allclose(img[mask], np.broadcast_to(img[mask][0], img[mask].shape), atol=1e-6)


def test_every_class_covers_the_same_area_on_average():
    d = make_shapes(3000, 4, shape_only=True)
    area = d.masks.sum(axis=(1, 2))
    means = np.array([area[d.labels == k].mean() for k in range(K)])
    assert means.max() / means.min() < 1.06, means
    default = make_shapes(3000, 4).masks.sum(axis=(1, 2))
    default_means = np.array([default[d.labels == k].mean() for k in range(K)])
    assert default_means.max() / default_means.min() > 1.3, default_means   # the default's triangles are smaller


def test_colour_free_hues_cover_the_circle_for_every_class():
    d = make_shapes(2000, 9, shape_only=True, noise=0.0)
    hue = rgb2hsv(_object_pixels(d)[:, :1])[:, 0, 0]
    for k in range(K):
        counts = np.histogram(hue[d.labels == k], bins=6, range=(0, 1))[0]
        assert counts.min() > 0.5 * counts.mean(), (k, counts)     # no class keeps a colour family


def test_default_is_unchanged_and_bad_shape_only_is_named():
    np.testing.assert_array_equal(make_shapes(20, 3).images, make_shapes(20, 3, shape_only=False).images)
    for bad in ("yes", None, 1):
        with pytest.raises(ValueError, match=f"shape_only={bad!r}: expected True or False"):
            make_shapes(5, 0, shape_only=bad)
