"""What is wrong with an output, in the order a learner should fix it.

None -> wrong type -> wrong shape -> integer dtype -> NaN/inf -> float32 for a float64 input -> the numbers
(largest difference, where, with as many digits as it takes to see it, and the fraction of entries off).
``compare`` returns (passed, message, problem), ``problem`` naming a case-level mistake of
:mod:`vit_lessons.grading.mistakes` when the output shows one ("float32_precision": a float64 result whose
digits are those of a float32 computation); ``matches`` tells whether an output equals another within the
tolerance (used to name a known mistake).
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


def _largest(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> tuple[str, bool]:
    """(the largest difference, where, both values and how many entries are off; whether any is off)."""
    g64, e64 = got.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(g64 - e64)
    off = diff > atol + rtol * np.abs(e64)
    if not off.any():
        return "", False
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    shown_got, shown_expected = pair(float(g64[idx]), float(e64[idx]))
    return (f"largest |difference| {diff[idx]:.3g} at index {tuple(int(i) for i in idx)} (got {shown_got}, "
            f"expected {shown_expected}); {int(off.sum())} of {off.size} entries ({100 * off.mean():.0f}%) off by "
            f"more than {atol:g} + {rtol:g}*|expected|"), True


def _compare_array(got: np.ndarray, expected: np.ndarray, where: str) -> tuple[bool, str, str | None]:
    if got.shape != expected.shape:
        return False, f"{where} has shape {got.shape}: expected {expected.shape}", None
    if got.dtype.kind != "f":
        problem = "integer_output" if got.dtype.kind in "biu" else None
        return False, f"{where} has dtype {got.dtype}: expected {expected.dtype}", problem
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return False, f"{where} has {bad} NaN or infinite entries of {got.size}", None
    atol, rtol = tolerance(expected)
    text, off = _largest(got, expected, atol, rtol)
    if got.itemsize < expected.itemsize:  # float32 (or less) for a float64 input
        loose, still_off = _largest(got, expected, *TOLERANCES["float32"])
        if still_off:
            return False, (f"{where}: {got.dtype} result for a {expected.dtype} input, and wrong even at "
                           f"{got.dtype} precision: {loose}"), "float32_result"
        return False, (f"{where}: {got.dtype} result for a {expected.dtype} input (right at {got.dtype} "
                       f"precision; {text or 'compute in the input dtype'})"), "float32_result"
    note = f"dtype {got.dtype}, expected {expected.dtype} (compute in the input's dtype)" \
        if got.dtype != expected.dtype else ""
    if not off:
        return True, note or "ok", None
    problem = "float32_precision" if expected.dtype == np.float64 and not _largest(got, expected, *ROUNDING)[1] \
        else None
    return False, f"{where}: " + "; ".join(filter(None, [note, text])), problem


def compare(got, expected, where: str = "the output") -> tuple[bool, str, str | None]:
    """(passed, message, case-level mistake or None) for ``got`` against ``expected`` (arrays, tuples,
    dicts of arrays)."""
    if isinstance(got, Unreadable):
        return False, f"{where}: {got.why}", None
    if got is None:
        return False, f"{where} is None: did you forget to `return` it?", "returns_none"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            return False, f"{where} is {_kind(got)}: expected a tuple of {len(expected)} items", None
        if len(got) != len(expected):
            return False, f"{where} has {len(got)} items: expected {len(expected)}", None
        return _combine([compare(g, e, f"{where}[{i}]") for i, (g, e) in enumerate(zip(got, expected, strict=True))])
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False, f"{where} is {_kind(got)}: expected a dict with keys {sorted(expected)[:4]}...", None
        missing = sorted(set(expected) - set(got))
        if missing:
            return False, f"{where} misses the keys {missing[:5]}", None
        return _combine([compare(got[k], e, f"{where}[{k!r}]") for k, e in expected.items()])
    if not isinstance(got, np.ndarray):
        problem = "not_an_array" if isinstance(got, (list, tuple, Scalar)) else None
        return False, f"{where} is {_kind(got)}: expected a numpy array or a torch tensor", problem
    return _compare_array(got, expected, where)


def _combine(results: list[tuple[bool, str, str | None]]) -> tuple[bool, str, str | None]:
    """One verdict for the items of a tuple or dict: the first three failures shown, and the case-level
    mistake when every failing item shows the same one."""
    bad = [(m, p) for ok, m, p in results if not ok]
    if not bad:
        notes = [m for _, m, _ in results if m != "ok"]
        return True, "; ".join(notes) or "ok", None
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


def matches(got, ref) -> bool:
    """True when ``got`` equals ``ref`` within the tolerance."""
    return distance(got, ref) <= 1.0
