"""What is wrong with an output, in the order a learner should fix it.

None -> wrong type -> wrong shape -> wrong dtype -> NaN/inf -> the numbers (largest difference, where, and
the fraction of entries off).  ``compare`` returns (passed, message); ``matches`` tells whether an output
equals a reference within the tolerance (used to name a known mistake).
"""

from __future__ import annotations

import numpy as np

from .sandbox import Other, Scalar, Unreadable
from .spec import TOLERANCES


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


def tolerance(expected: np.ndarray) -> tuple[float, float]:
    return TOLERANCES.get(np.dtype(expected.dtype).name, TOLERANCES["float32"])


def compare(got, expected, where: str = "the output") -> tuple[bool, str]:
    """(passed, message) for ``got`` against ``expected`` (arrays, tuples, dicts of arrays)."""
    if isinstance(got, Unreadable):
        return False, f"{where}: {got.why}"
    if got is None:
        return False, f"{where} is None: did you forget to `return` it?"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            return False, f"{where} is {_kind(got)}: expected a tuple of {len(expected)} items"
        if len(got) != len(expected):
            return False, f"{where} has {len(got)} items: expected {len(expected)}"
        results = [compare(g, e, f"{where}[{i}]") for i, (g, e) in enumerate(zip(got, expected, strict=True))]
        bad = [m for ok, m in results if not ok]
        return (not bad), "; ".join(bad) or "ok"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False, f"{where} is {_kind(got)}: expected a dict with keys {sorted(expected)[:4]}..."
        missing = sorted(set(expected) - set(got))
        if missing:
            return False, f"{where} misses the keys {missing[:5]}"
        results = [compare(got[k], e, f"{where}[{k!r}]") for k, e in expected.items()]
        bad = [m for ok, m in results if not ok]
        return (not bad), "; ".join(bad[:3]) + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "") or "ok"
    if not isinstance(got, np.ndarray):
        return False, f"{where} is {_kind(got)}: expected a numpy array or a torch tensor"
    if got.shape != expected.shape:
        return False, f"{where} has shape {got.shape}: expected {expected.shape}"
    notes = []
    if got.dtype.kind not in "f":
        return False, f"{where} has dtype {got.dtype}: expected {expected.dtype}"
    if got.dtype != expected.dtype:
        notes.append(f"dtype {got.dtype}, expected {expected.dtype} (compute in the input's dtype)")
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return False, f"{where} has {bad} NaN or infinite entries of {got.size}"
    atol, rtol = tolerance(expected)
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    off = diff > atol + rtol * np.abs(expected.astype(np.float64))
    if not off.any():
        return True, "; ".join(notes) or "ok"
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    notes.append(f"largest |difference| {diff[idx]:.3g} at index {tuple(int(i) for i in idx)} (got {got[idx]:.6g}, "
                 f"expected {expected[idx]:.6g}); {int(off.sum())} of {off.size} entries "
                 f"({100 * off.mean():.0f}%) off by more than {atol:g} + {rtol:g}*|expected|")
    return False, f"{where}: " + "; ".join(notes)


def distance(got, ref) -> float:
    """Largest scaled difference between two outputs of the same structure (inf when they do not fit)."""
    if isinstance(ref, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(ref):
            return float("inf")
        return max((distance(g, r) for g, r in zip(got, ref, strict=True)), default=0.0)
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(ref) - set(got):
            return float("inf")
        return max((distance(got[k], r) for k, r in ref.items()), default=0.0)
    if not isinstance(got, np.ndarray) or not isinstance(ref, np.ndarray) or got.shape != ref.shape \
            or got.dtype.kind != "f":
        return float("inf")
    with np.errstate(all="ignore"):
        atol, rtol = tolerance(ref)
        ref64 = ref.astype(np.float64)
        scaled = np.abs(got.astype(np.float64) - ref64) / (atol + rtol * np.abs(ref64))
    return float(np.nanmax(scaled)) if scaled.size else 0.0


def matches(got, ref) -> bool:
    """True when ``got`` equals ``ref`` within the tolerance."""
    return distance(got, ref) <= 1.0
