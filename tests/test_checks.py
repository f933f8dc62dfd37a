"""The shared argument checks: what they accept, and refusals naming the argument, its value and the expectation."""

import math

import numpy as np
import pytest

from vit_lessons.checks import check_int, check_number


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
