"""The checks every public function shares, so that every refusal reads the same way.

A bad argument raises ``ValueError("name=value: expected ...")``: the argument's name, the value
that was passed and what would have been accepted.  Bounds are inclusive unless said otherwise.
An argument of the wrong kind says ``"name is a list: expected ..."``, an array of the wrong shape
``"name has shape (2, 5): expected ..."``.  A missing optional dependency raises
``ModuleNotFoundError`` naming the extra that installs it (:func:`require`).

The checks are cheap (a type test, a few integer comparisons), so that the public functions of the
forward pass can run them on every call without slowing it or leaving ``torch.compile``'s graph.
"""

from __future__ import annotations

import importlib
import math
import numbers
import reprlib

from .backend import is_array

#: top-level module -> (its distribution on PyPI, the vit_lessons extra that installs it)
OPTIONAL = {
    "skimage": ("scikit-image", "data"),
    "matplotlib": ("matplotlib", "plots"),
    "tqdm": ("tqdm", "train"),
    "transformers": ("transformers", "hub"),
    "huggingface_hub": ("huggingface_hub", "hub"),
    "PIL": ("pillow", "hub"),
    "anywidget": ("anywidget", "widgets"),
    "ipywidgets": ("ipywidgets", "widgets"),
    "traitlets": ("traitlets", "widgets"),
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


def check_pair(name: str, value, check=check_int, *, what: str = "", **bounds) -> tuple:
    """``value``, a pair (a tuple or a list of two), as a tuple of what ``check`` (:func:`check_int` or
    :func:`check_number`, with ``bounds``) makes of each item, or a ``ValueError`` naming ``name`` (or
    ``name[i]`` for a bad item).  ``what`` says what the pair holds, e.g. ``"(gh, gw)"``."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f"{name}={value!r}: expected a pair {what or '(a, b)'}, a tuple or a list of two")
    return tuple(check(f"{name}[{i}]", item, **bounds) for i, item in enumerate(value))


_SHORT = reprlib.Repr()  # a value shown in a message: at most 2 levels deep, 4 items, 40 characters each
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 4, 40, 40


def _kind_error(name: str, value, expected: str) -> ValueError:
    kind = type(value).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return ValueError(f"{name} is {article} {kind}: expected {expected}; got {_SHORT.repr(value)}")


def check_array(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is a numpy array or a torch tensor."""
    if not is_array(value):
        raise _kind_error(name, value, "a numpy array or a torch tensor")


def check_instance(name: str, value, cls: type | tuple[type, ...], *, how: str = "") -> None:
    """Raise ``ValueError`` unless ``value`` is a ``cls`` (or one of a tuple of classes); ``how`` is added
    to the message, e.g. how to make one."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise _kind_error(name, value, f"a {names}{how}")


def _shape_text(expected: tuple) -> str:
    items = ["..." if e is Ellipsis else str(e) for e in expected]
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def check_shape(name: str, value, expected: tuple, *, why: str = "") -> None:
    """Raise ``ValueError`` unless the array ``value`` has the shape ``expected``: a tuple of ints (that
    size), strings (any size, named so in the message, e.g. ``"T"``) and, first, optionally ``...`` (any
    leading axes), e.g. ``(..., "T", 64)``.  ``why`` is added to the message in parentheses.

    A few hundred nanoseconds: the forward pass runs it in every block (a loop of comparisons, no slices).
    """
    shape = getattr(value, "shape", None)
    if not isinstance(shape, tuple):  # numpy's shape is a tuple, torch's Size a subclass of it
        raise _kind_error(name, value, "a numpy array or a torch tensor")
    lead = len(expected) > 0 and expected[0] is Ellipsis
    i = len(shape) - len(expected) + lead  # the axis the first expected size describes
    ok = i >= 0 if lead else i == 0
    for want in expected[lead:]:
        if not ok:
            break
        ok = isinstance(want, str) or shape[i] == want
        i += 1
    if not ok:
        raise ValueError(f"{name} has shape {tuple(shape)}: expected {_shape_text(expected)}"
                         + (f" ({why})" if why else ""))


def channels_first_hint(shape: tuple) -> str:
    """What an error about images of ``shape`` adds when they look channels-first, (C, H, W) or (B, C, H, W)
    (a first image axis of 1, 3 or 4 and a last one that is none of these), else ""."""
    shape = tuple(shape)
    if len(shape) not in (3, 4) or shape[-3] not in (1, 3, 4) or shape[-1] in (1, 3, 4):
        return ""
    what, axes = ("(C, H, W)", "1, 2, 0") if len(shape) == 3 else ("(B, C, H, W)", "0, 2, 3, 1")
    return (f"; shape {shape} looks like channels-first {what}: this book's images are "
            f"{what.replace('C, H, W', 'H, W, C')}; transpose with image.transpose({axes}) (torch: "
            f"image.permute({axes}))")


def check_tiling(shape: tuple, P: int, name: str, value, hint: str = "") -> None:
    """Raise ``ValueError`` unless images of ``shape`` (..., H, W, C) are not empty and P divides both their
    sides: a convolution with kernel and stride P would silently drop the rest.  ``name=value`` is the
    argument that sets P; ``hint`` ends the message (after a channels-first hint, :func:`channels_first_hint`)."""
    H, W = shape[-3], shape[-2]
    if H == 0 or W == 0:
        raise ValueError(f"images of size {H}x{W} with {name}={value}: the image is empty (its sides must be at "
                         f"least {P}, a whole patch)")
    if H % P or W % P:
        raise ValueError(f"images of size {H}x{W} with {name}={value}: sides must be multiples of {P} "
                         f"({H % P} rows and {W % P} columns would be dropped); resize or crop first"
                         f"{channels_first_hint(shape)}{hint}")


def check_keys(name: str, mapping, prefix: str, suffixes: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless the dict ``mapping`` (the argument ``name``) has the key ``prefix + s``
    for every ``s`` of ``suffixes``.  The message names the missing keys and the prefixes under which
    ``mapping`` has ``suffixes[0]``, e.g. ``"blocks.0.attn."`` for ``suffixes = ("q.weight", ...)``."""
    if not isinstance(mapping, dict):
        raise _kind_error(name, mapping, "a dict of name -> array")
    missing = [prefix + s for s in suffixes if prefix + s not in mapping]
    if missing:
        first = suffixes[0]
        found = sorted({k[:len(k) - len(first)] for k in mapping if isinstance(k, str) and k.endswith(first)})
        message = f"{name} has no {missing[:3]}{' ...' if len(missing) > 3 else ''}"
        if prefix:
            message += f" (prefix={prefix!r}, then each of {list(suffixes)})"
        if found and found != [""]:
            message += f"; it has {first!r} after the prefixes {found[:8]}{' ...' if len(found) > 8 else ''}"
        if prefix + "." in found:
            message += f": did you mean prefix={prefix + '.'!r}? (a prefix ends with its dot)"
        raise ValueError(message)


def require(module: str):
    """``importlib.import_module(module)`` for an optional dependency (:data:`OPTIONAL`), or a
    ``ModuleNotFoundError`` that says which extra installs it, e.g. ``pip install "vit_lessons[plots]"``."""
    top = module.split(".")[0]
    if top not in OPTIONAL:
        raise KeyError(f"{top}: not an optional dependency of vit_lessons (expected one of {sorted(OPTIONAL)})")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if missing not in OPTIONAL:
            raise  # something the dependency itself needs is missing: its own message says what
        # the module itself, or another optional dependency it imports (anywidget imports ipywidgets)
        distribution, extra = OPTIONAL[missing]
        what = module if missing == top else f"{e.name}, which {module} imports,"
        raise ModuleNotFoundError(f"{what} is not installed, and this part of vit_lessons needs it: "
                                  f'pip install "vit_lessons[{extra}]" (or pip install {distribution})',
                                  name=e.name) from None
