"""The shared argument checks: what they accept, and refusals naming the argument, its value and the expectation."""

import math
import os

import numpy as np
import pytest

from vit_lessons.checks import (
    channels_first_hint,
    check_array,
    check_instance,
    check_int,
    check_keys,
    check_number,
    check_pair,
    check_shape,
    check_tiling,
)


def test_check_int_accepts_python_and_numpy_ints():
    assert check_int("n", 3, 1) == 3 and type(check_int("n", np.int64(3), 1)) is int
    assert check_int("layer", -2, -4, 3) == -2


@pytest.mark.parametrize("value, low, high, message", [
    (0, 1, None, "n=0: expected a positive int"),
    (-1, 0, None, "n=-1: expected an int >= 0"),
    (5, 0, 4, r"n=5: expected an int in \[0, 4\]"),
    (2.0, 1, None, "n=2.0: expected a positive int, got float"),
    (True, 1, None, "n=True: expected a positive int, got bool"),
    ("3", 1, None, "n='3': expected a positive int, got str"),
    (None, 1, None, "n=None: expected a positive int, got NoneType"),
])
def test_check_int_refusals(value, low, high, message):
    with pytest.raises(ValueError, match=message):
        check_int("n", value, low, high)
    with pytest.raises(ValueError, match=r"\(the number of patches\)"):
        check_int("n", 0, 1, 3, why="the number of patches")


@pytest.mark.parametrize("value, kwargs, message", [
    (1.5, dict(low=0.0, high=1.0), r"x=1.5: expected a number in \[0.0, 1.0\]"),
    (0.0, dict(low=0.0, high=1.0, low_open=True), r"x=0.0: expected a number in \(0.0, 1.0\]"),
    (math.nan, dict(low=0.0, high=1.0), "x=nan"),
    (math.inf, dict(low=0.0), "x=inf: expected a number >= 0.0"),
    (True, dict(low=0.0, high=1.0), "x=True"),
    ("0.5", dict(low=0.0, high=1.0), "x='0.5'"),
    (400, dict(low=0.0, high=180.0, unit="degrees"), r"x=400: expected a number of degrees in \[0.0, 180.0\]"),
])
def test_check_number_refusals(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_number("x", value, **kwargs)


def test_check_number_accepts_ints_and_numpy_floats():
    assert check_number("x", 1, 0.0, 1.0) == 1.0 and check_number("x", np.float32(0.25), 0.0, 1.0) == 0.25
    assert check_number("x", 1e-6, 0.0, low_open=True) == 1e-6


def test_check_pair_names_the_pair_or_the_item():
    assert check_pair("grid", [2, np.int64(3)], low=1) == (2, 3)
    assert check_pair("r", (0.1, 0.2), check_number, low=0.0, high=1.0) == (0.1, 0.2)
    with pytest.raises(ValueError, match=r"grid='big': expected a pair \(gh, gw\)"):
        check_pair("grid", "big", low=1, what="(gh, gw)")
    with pytest.raises(ValueError, match=r"grid=0.3: expected a pair"):
        check_pair("grid", 0.3)
    with pytest.raises(ValueError, match=r"grid\[0\]=-3: expected a positive int"):
        check_pair("grid", (-3, 3), low=1)


def test_check_array_instance_and_shape_name_the_argument_and_what_came():
    check_array("x", np.zeros(2))
    with pytest.raises(ValueError, match="x is a str: expected a numpy array or a torch tensor; got 'abc'"):
        check_array("x", "abc")
    with pytest.raises(ValueError, match=r"n is an int: expected a str or PathLike; got 3"):
        check_instance("n", 3, (str, os.PathLike))
    check_shape("k", np.zeros((2, 6, 8)), (..., "Tk", 8))
    check_shape("w", np.zeros(4), (4,))
    with pytest.raises(ValueError, match=r"k has shape \(2, 6, 4\): expected \(..., Tk, 8\) \(d, the width of q\)"):
        check_shape("k", np.zeros((2, 6, 4)), (..., "Tk", 8), why="d, the width of q")
    with pytest.raises(ValueError, match=r"w has shape \(4, 1\): expected \(4,\)"):
        check_shape("w", np.zeros((4, 1)), (4,))
    with pytest.raises(ValueError, match=r"x has shape \(8,\): expected \(..., T, D\)"):
        check_shape("x", np.zeros(8), (..., "T", "D"))


def test_check_keys_names_the_missing_keys_and_the_prefixes_there_are():
    params = {f"blocks.{i}.attn.{n}": 0 for i in range(2) for n in ("q.weight", "q.bias")}
    check_keys("params", params, "blocks.1.attn.", ("q.weight", "q.bias"))
    with pytest.raises(ValueError, match=r"params has no \['blocks.0.attnq.weight', 'blocks.0.attnq.bias'\].*"
                                         r"after the prefixes \['blocks.0.attn.', 'blocks.1.attn.'\].*"
                                         r"did you mean prefix='blocks.0.attn.'\?"):
        check_keys("params", params, "blocks.0.attn", ("q.weight", "q.bias"))
    with pytest.raises(ValueError, match=r"params is a list: expected a dict"):
        check_keys("params", [], "", ("a",))


def test_check_tiling_says_what_would_be_dropped():
    check_tiling((2, 32, 32, 3), 4, "patch_size", 4)
    with pytest.raises(ValueError, match=r"images of size 32x30 with patch_size=4: .* \(0 rows and 2 columns"):
        check_tiling((32, 30, 3), 4, "patch_size", 4)


def test_check_tiling_says_an_empty_image_is_empty_and_hints_at_channels_first():
    with pytest.raises(ValueError, match=r"^images of size 0x0 with patch_size=4: the image is empty \(its sides must "
                                         r"be at least 4, a whole patch\)$"):
        check_tiling((0, 0, 3), 4, "patch_size", 4)
    with pytest.raises(ValueError, match=r"3 rows and 0 columns would be dropped\); resize or crop first; shape "
                                         r"\(3, 32, 32\) looks like channels-first \(C, H, W\): this book's images are "
                                         r"\(H, W, C\); transpose with image.transpose\(1, 2, 0\)"):
        check_tiling((3, 32, 32), 4, "patch_size", 4)


@pytest.mark.parametrize("shape, hinted", [
    ((3, 32, 32), "(C, H, W)"), ((1, 28, 28), "(C, H, W)"), ((4, 16, 16), "(C, H, W)"),
    ((8, 3, 32, 32), "(B, C, H, W)"),
    ((32, 32, 3), ""), ((3, 32, 3), ""), ((2, 32, 32), ""), ((3, 32), ""), ((8, 32, 32, 3), ""),
])
def test_channels_first_is_recognised_only_when_the_first_image_axis_could_be_channels(shape, hinted):
    hint = channels_first_hint(shape)
    assert (f"looks like channels-first {hinted}" in hint) if hinted else hint == ""
    if len(shape) == 4 and hinted:
        assert "image.transpose(0, 2, 3, 1)" in hint and "(B, H, W, C)" in hint
