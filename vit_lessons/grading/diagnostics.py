"""What is wrong with an output, in the order a learner should fix it.

None -> wrong type -> wrong shape -> integer dtype -> NaN/inf -> another float dtype than the expected one
(every exercise's docstring promises the input's dtype: a float32 result for a float64 input, or float64
for float32, fails) -> the numbers (largest difference, where, with as many digits as it takes to see it,
and the share of entries off).  ``compare`` returns (passed, message, problem), ``problem`` naming a
case-level mistake of :mod:`vit_lessons.grading.mistakes` when the output shows one ("float32_values": a
float64 result that holds float32 values; "float32_precision": a float64 result off by no more than
float32 rounding, which an approximate constant causes as well); ``matches`` tells whether an output
equals another within the tolerance (used to name a known mistake).
"""

from __future__ import annotations

import math

import numpy as np

from .registry import TOLERANCES
from .sandbox import Other, Scalar, Unreadable


def _kind(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, Other):
        return value.type_name
    if isinstance(value, Scalar):
        return f"a Python {value.type_name} ({value.text})"
    if isinstance(value, np.ndarray):
        return "an array"
    return type(value).__name__


#: how far a float64 result computed through float32 strays: float32's rounding, accumulated (far below
#: float32's own tolerance, which also admits mistakes such as the tanh GELU)
ROUNDING = (1e-5, 1e-5)


def lowered(value, like):
    """``value`` (an output, or a tuple / dict of them) rounded to the dtype of the matching parts of ``like``
    when those are less precise (so that a comparison runs at their precision)."""
    if isinstance(value, tuple | list) and isinstance(like, tuple | list) and len(value) == len(like):
        return type(value)(lowered(v, w) for v, w in zip(value, like, strict=True))
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: lowered(v, like.get(k)) for k, v in value.items()}
    if isinstance(value, np.ndarray) and isinstance(like, np.ndarray) and like.dtype.kind == "f" \
            and value.dtype.kind == "f" and like.itemsize < value.itemsize:
        return value.astype(like.dtype)
    return value


def tolerance(expected: np.ndarray) -> tuple[float, float]:
    return TOLERANCES.get(np.dtype(expected.dtype).name, TOLERANCES["float32"])


def pair(got: float, expected: float) -> tuple[str, str]:
    """``got`` and ``expected`` printed with enough significant digits that they differ when they do
    (two more than the digits they share)."""
    diff, scale = abs(got - expected), max(abs(got), abs(expected))
    shared = math.log10(scale / diff) if diff > 0 and scale > 0 and math.isfinite(scale / diff) else 4
    digits = min(17, max(4, math.ceil(shared) + 2))
    return f"{got:.{digits}g}", f"{expected:.{digits}g}"


def share(k: int, n: int) -> str:
    """``k`` of ``n`` as a percentage that reads 100% only when k == n and 0% only when k == 0."""
    for digits in range(5):
        text = f"{100 * k / n:.{digits}f}"
        if (float(text) < 100 or k == n) and (float(text) > 0 or k == 0):
            return text + "%"
    return f"{100 * k / n:.5g}%"


def _largest(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
             reveal: bool = True) -> tuple[str, bool]:
    """(the largest difference, where, both values and how many entries are off; whether any is off).
    Without ``reveal`` (a hidden test) only how many entries are off: no number made from the expected values,
    which repeated submissions could otherwise home in on."""
    g64, e64 = got.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(g64 - e64)
    off = diff > atol + rtol * np.abs(e64)
    if not off.any():
        return "", False
    count = f"{int(off.sum())} of {off.size} entries ({share(int(off.sum()), off.size)})"
    if not reveal:
        return f"{count} off by more than the tolerance (the public test of this kind shows the numbers)", True
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    shown_got, shown_expected = pair(float(g64[idx]), float(e64[idx]))
    return (f"largest |difference| {diff[idx]:.3g} at index {tuple(int(i) for i in idx)} (got {shown_got}, "
            f"expected {shown_expected}); {count} off by more than {atol:g} + {rtol:g}*|expected|"), True


#: the case-level mistake of a result of the first dtype where the second was expected
DTYPE_MISTAKES = {("float32", "float64"): "float32_result", ("float64", "float32"): "float64_result"}


def _wrong_dtype(got: np.ndarray, expected: np.ndarray, where: str, given: str | None,
                 reveal: bool = True) -> tuple[bool, str, str]:
    """A float result of another dtype than the expected one: it fails, saying whether its values are right
    at the less precise of the two dtypes."""
    problem = DTYPE_MISTAKES.get((got.dtype.name, expected.dtype.name), "wrong_dtype") if given == \
        expected.dtype.name else "wrong_dtype"
    what = f"{where}: {got.dtype} result" + (f" for a {given} input" if given else f" where {expected.dtype} is due")
    due = f"return {expected.dtype}" + (", the input's dtype" if given == expected.dtype.name else "")
    coarse = got if got.itemsize < expected.itemsize else expected
    text, off = _largest(got, expected, *tolerance(coarse), reveal=reveal)
    if off:
        return False, f"{what}, and wrong even at {coarse.dtype} precision: {text}", problem
    return False, f"{what}: {due} (the values are right at {coarse.dtype} precision)", problem


def _precision(got: np.ndarray, expected: np.ndarray) -> str | None:
    """For a float64 result off by more than float64's tolerance: "float32_values" when every entry is a
    float32 number (and the expected ones are not), "float32_precision" when it is off by no more than
    float32 rounding (or an approximation as close), None otherwise."""
    if _largest(got, expected, *ROUNDING)[1]:
        return None
    as32 = got.astype(np.float32).astype(np.float64)
    if np.array_equal(as32, got) and not np.array_equal(expected.astype(np.float32).astype(np.float64), expected):
        return "float32_values"
    return "float32_precision"


def _compare_array(got: np.ndarray, expected: np.ndarray, where: str, given: str | None = None,
                   reveal: bool = True) -> tuple[bool, str, str | None]:
    if got.shape != expected.shape:
        return False, f"{where} has shape {got.shape}: expected {expected.shape}", None
    if got.dtype.kind != "f":
        problem = "integer_output" if got.dtype.kind in "biu" else None
        return False, f"{where} has dtype {got.dtype}: expected {expected.dtype}", problem
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return False, f"{where} has {bad} NaN or infinite entries of {got.size}", None
    if got.dtype != expected.dtype:
        return _wrong_dtype(got, expected, where, given, reveal)
    text, off = _largest(got, expected, *tolerance(expected), reveal=reveal)
    if not off:
        return True, "ok", None
    problem = _precision(got, expected) if expected.dtype == np.float64 else None
    return False, f"{where}: {text}", problem


def compare(got, expected, where: str = "the output", given: str | None = None,
            reveal: bool = True) -> tuple[bool, str, str | None]:
    """(passed, message, case-level mistake or None) for ``got`` against ``expected`` (arrays, tuples,
    dicts of arrays); ``given``: the dtype of the case's input (e.g. "float32"), named when it is due;
    ``reveal``: whether the message may show values of ``expected`` (the public tests; see :func:`_largest`)."""
    if isinstance(got, Unreadable):
        return False, f"{where}: {got.why}", None
    if got is None:
        return False, f"{where} is None: did you forget to `return` it?", "returns_none"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            return False, f"{where} is {_kind(got)}: expected a tuple of {len(expected)} items", None
        if len(got) != len(expected):
            return False, f"{where} has {len(got)} items: expected {len(expected)}", None
        return _combine([compare(g, e, f"{where}[{i}]", given, reveal)
                         for i, (g, e) in enumerate(zip(got, expected, strict=True))])
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False, f"{where} is {_kind(got)}: expected a dict with keys {sorted(expected)[:4]}...", None
        missing = sorted(set(expected) - set(got))
        if missing:
            return False, f"{where} misses the keys {missing[:5]}", None
        return _combine([compare(got[k], e, f"{where}[{k!r}]", given, reveal) for k, e in expected.items()])
    if not isinstance(got, np.ndarray):
        problem = "not_an_array" if isinstance(got, (list, tuple, Scalar)) else None
        return False, f"{where} is {_kind(got)}: expected a numpy array or a torch tensor", problem
    return _compare_array(got, expected, where, given, reveal)


def _combine(results: list[tuple[bool, str, str | None]]) -> tuple[bool, str, str | None]:
    """One verdict for the items of a tuple or dict: the first three failures shown, and the case-level
    mistake when every failing item shows the same one."""
    bad = [(m, p) for ok, m, p in results if not ok]
    if not bad:
        return True, "ok", None
    problems = {p for _, p in bad}
    text = "; ".join(m for m, _ in bad[:3]) + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "")
    return False, text, problems.pop() if len(problems) == 1 else None


def distance(got, ref) -> float:
    """Largest scaled difference between two outputs of the same structure (inf when they do not fit).
    Entries that are not finite must be so in both, at the same places (an overflow reproduced)."""
    if isinstance(ref, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(ref):
            return float("inf")
        return max((distance(g, r) for g, r in zip(got, ref, strict=True)), default=0.0)
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(ref) - set(got):
            return float("inf")
        return max((distance(got[k], r) for k, r in ref.items()), default=0.0)
    if not isinstance(got, np.ndarray) or not isinstance(ref, np.ndarray) or got.shape != ref.shape \
            or got.dtype.kind != "f" or ref.dtype.kind != "f":
        return float("inf")
    finite = np.isfinite(ref)
    if not np.array_equal(finite, np.isfinite(got)):
        return float("inf")
    with np.errstate(all="ignore"):
        atol, rtol = tolerance(got if got.itemsize < ref.itemsize else ref)  # the less precise of the two
        ref64 = ref.astype(np.float64)[finite]
        scaled = np.abs(got.astype(np.float64)[finite] - ref64) / (atol + rtol * np.abs(ref64))
    return float(scaled.max()) if scaled.size else 0.0


#: a difference over this share of the result's largest entry is no matter of precision
FAR = 1e-2


def near(got, ref) -> bool:
    """Whether ``got`` fits ``ref`` (same structure, shapes, float arrays) and is off by no more than FAR times
    the largest |entry| of each of its arrays: what a lower precision could explain, not a wrong formula."""
    if isinstance(ref, tuple | list | dict):
        if type(got) is not type(ref) or len(got) != len(ref):
            return False
        pairs = zip(got, ref, strict=True) if not isinstance(ref, dict) else ((got.get(k), r) for k, r in ref.items())
        return all(near(g, r) for g, r in pairs)
    if not isinstance(got, np.ndarray) or not isinstance(ref, np.ndarray) or got.shape != ref.shape \
            or got.dtype.kind != "f" or ref.dtype.kind != "f" or not np.all(np.isfinite(got)):
        return False
    with np.errstate(all="ignore"):
        scale = float(np.abs(ref).max(initial=0.0)) or 1.0
        return float(np.abs(got.astype(np.float64) - ref).max(initial=0.0)) <= FAR * scale


def matches(got, ref) -> bool:
    """True when ``got`` equals ``ref`` within the tolerance."""
    return distance(got, ref) <= 1.0
