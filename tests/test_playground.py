"""Chapter 4's attention playground, its Python side: validated inputs, and numbers from the library's softmax.
(Its browser side, and that the two agree, is tested in tests/test_widget_browser.py and test_book_browser.py.)"""

import math

import numpy as np
import pytest

import vit_lessons as V
from vit_lessons.widgets import AttentionPlayground
from vit_lessons.widgets.playground import COLOURS, EXTENT, PRESETS


def test_numbers_are_the_library_softmax():
    q, k = [[1.0, 0.5], [-0.5, 2.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
    v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    p = AttentionPlayground(q, k, v, scale=0.5)
    scores = 0.5 * np.array(q) @ np.array(k).T
    np.testing.assert_allclose(p.scores(), scores)
    np.testing.assert_array_equal(p.weights(), V.softmax(scores, axis=-1))
    np.testing.assert_allclose(p.output(), V.softmax(scores, axis=-1) @ np.array(v))
    assert p.labels == ["token 1", "token 2", "token 3"]


def test_defaults_and_presets():
    p = AttentionPlayground()
    assert p.scale == pytest.approx(1 / math.sqrt(2)) and p.value_colours == COLOURS[:4]
    assert set(p.presets) == set(PRESETS)
    for name, (q, k) in PRESETS.items():
        assert len(q) == len(k) == 4 and np.abs(np.array(q + k)).max() <= EXTENT, name
        AttentionPlayground(preset=name)
    uniform = AttentionPlayground(preset="all keys alike (uniform weights)").weights()
    np.testing.assert_allclose(uniform, 0.25)
    saturated = AttentionPlayground(preset="long vectors (a saturated softmax)", scale=1.0).weights()
    assert saturated.max(axis=1).min() > 0.95


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(queries=[[0, 0]], keys=[[0, 0]]), r"queries: expected 2 to 6 rows of 2 numbers, got \(1, 2\)"),
    (dict(queries=[[0, 0]] * 7, keys=[[0, 0]] * 7), r"queries: expected 2 to 6 rows"),
    (dict(queries=[[0, 0, 0]] * 2, keys=[[0, 0]] * 2), r"queries: expected 2 to 6 rows of 2 numbers, got \(2, 3\)"),
    (dict(queries=[[0, 0]] * 2, keys=[[0, 0]] * 3), r"keys: expected 2 rows of 2 numbers, got \(3, 2\)"),
    (dict(queries=[[0, 9]] * 2, keys=[[0, 0]] * 2), r"queries: expected finite numbers in \[-3.0, 3.0\]"),
    (dict(queries=[[0, float("nan")]] * 2, keys=[[0, 0]] * 2), r"queries: expected finite numbers"),
    (dict(queries=[[0, 0]] * 2), r"queries, keys: expected both or neither"),
    (dict(values=[[2, 0, 0]] * 4), r"values: expected finite numbers in \[0.0, 1.0\]"),
    (dict(values=[[0, 0, 0]] * 3), r"values: expected 4 rows of 3 numbers"),
    (dict(scale=0), r"scale=0: expected a number > 0"),
    (dict(scale=float("inf")), r"scale=inf"),
    (dict(scale=True), r"scale=True"),
    (dict(labels=["a"]), r"labels: expected 4 names"),
    (dict(preset="none"), r"preset='none': expected one of"),
])
def test_bad_inputs_name_themselves(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        AttentionPlayground(**kwargs)
