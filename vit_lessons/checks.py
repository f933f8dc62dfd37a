"""The checks every public function shares, so that every refusal reads the same way.

A bad argument raises ``ValueError("name=value: expected ...")``: the argument's name, the value
that was passed and what would have been accepted.  Bounds are inclusive unless said otherwise.
A missing optional dependency raises ``ModuleNotFoundError`` naming the extra that installs it
(:func:`require`).
"""

from __future__ import annotations

import importlib
import math
import numbers

#: top-level module -> (its distribution on PyPI, the vit_lessons extra that installs it)
OPTIONAL = {
    "skimage": ("scikit-image", "data"),
    "matplotlib": ("matplotlib", "plots"),
    "tqdm": ("tqdm", "train"),
    "transformers": ("transformers", "hub"),
    "huggingface_hub": ("huggingface_hub", "hub"),
    "PIL": ("pillow", "hub"),
}


def _is_int(value) -> bool:
    # bool is an int subclass, but True as a patch size or a seed is a mistake, not a number
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_expectation(low: int | None, high: int | None) -> str:
    if high is not None:
        return f"an int in [{low}, {high}]" if low is not None else f"an int <= {high}"
    if low == 1:
        return "a positive int"
    return "an int" if low is None else f"an int >= {low}"


def check_int(name: str, value, low: int | None = None, high: int | None = None, *, why: str = "") -> int:
    """``value`` as a Python int, or a ``ValueError`` naming ``name``, ``value`` and the expectation.

    Accepts Python and numpy integers (not bools, floats or strings) in [low, high] (None: unbounded).
    ``why`` is added to the message in parentheses, e.g. ``why="the number of patches"``.
    """
    expected = _int_expectation(low, high) + (f" ({why})" if why else "")
    if not _is_int(value):
        raise ValueError(f"{name}={value!r}: expected {expected}, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value!r}: expected {expected}")
    return int(value)


def check_number(name: str, value, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = False, unit: str = "") -> float:
    """``value`` as a float, or a ``ValueError`` unless it is a real number (not a bool, not NaN) in the
    interval from ``low`` to ``high`` (closed unless ``low_open`` / ``high_open``).  ``unit`` names what
    the number counts, e.g. ``"degrees"``.  An infinite bound stands for "no bound", so infinities
    themselves are always refused."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        what = f"a number of {unit}" if unit else "a number"
        if math.isinf(low) and math.isinf(high):
            interval = "finite"
        elif math.isinf(high):
            interval = f"> {low}" if low_open else f">= {low}"
        else:
            interval = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name}={value!r}: expected {what} {interval}")
    return float(value)


def require(module: str):
    """``importlib.import_module(module)`` for an optional dependency (:data:`OPTIONAL`), or a
    ``ModuleNotFoundError`` that says which extra installs it, e.g. ``pip install "vit_lessons[plots]"``."""
    top = module.split(".")[0]
    distribution, extra = OPTIONAL[top]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != top:
            raise  # something the dependency itself needs is missing: its own message says what
        raise ModuleNotFoundError(f"{module} is not installed, and this part of vit_lessons needs it: "
                                  f'pip install "vit_lessons[{extra}]" (or pip install {distribution})',
                                  name=e.name) from None
