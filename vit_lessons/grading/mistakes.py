"""The known mistakes: one registered definition each, with the hint a learner reads.

Three kinds, all in :data:`MISTAKES` (name -> :class:`Mistake`):

- a *stage* mistake swaps one or more stages of the oracle (:mod:`vit_lessons.grading.oracle`) for their
  classic wrong versions (``tanh_gelu`` swaps ``gelu``); a learner's output that equals the oracle's output
  with those stages is explained by it.  Some have several ``variants`` (a stride of 1 or of P/2);
- a *case-level* mistake is read from the outcome itself (``float32_result``: a float32 output for a
  float64 input; ``no_value_error``: no ValueError where one was due), see :func:`vit_lessons.grading.engine.judge`;
- an *axis* hint (:data:`AXIS_HINTS`) explains failures that are exactly the tests with one property
  (every batched test fails, and only those).

Registering::

    mistake("tanh_gelu", "You use the tanh approximation of GELU: ...", gelu=tanh_gelu)

where ``gelu=`` names the stage replaced.  :mod:`vit_lessons.grading.exercises` lists, per exercise
function, which mistakes are tried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    """``variants``: alternative stage replacements (stage name -> function), any of which is the mistake;
    none for a case-level mistake.  ``recognise_error(case, error_message)``: True when an error the
    learner's code raised is the one this mistake raises on that case (e.g. N' tokens where N fit)."""

    name: str
    hint: str
    variants: tuple[dict[str, Callable], ...] = ()
    recognise_error: Callable | None = field(default=None, compare=False)


MISTAKES: dict[str, Mistake] = {}


def mistake(name: str, hint: str, *, variants: tuple[dict[str, Callable], ...] | None = None,
            recognise_error: Callable | None = None, **stages: Callable) -> Mistake:
    """Register the mistake ``name``: its hint and the stages it replaces (``**stages``), or several
    alternative replacements (``variants``).  Without either it is a case-level mistake."""
    if name in MISTAKES:
        raise ValueError(f"mistake {name!r} is registered twice")
    if stages and variants:
        raise ValueError(f"mistake {name!r}: give stages or variants, not both")
    found = Mistake(name, hint, tuple(variants or ([stages] if stages else [])), recognise_error)
    MISTAKES[name] = found
    return found


def hint(name: str) -> str:
    """The hint of the mistake ``name``; ValueError naming the known ones otherwise."""
    if name not in MISTAKES:
        raise ValueError(f"mistake={name!r}: expected one of {sorted(MISTAKES)}")
    return MISTAKES[name].hint


#: numpy's and torch's messages for two arrays whose shapes do not match where they are combined
#: element-wise: group 1 holds the shapes
SHAPE_MISMATCH = re.compile(r"operands could not be broadcast together with (?:remapped )?shapes ([\d\s,()\[\]]{1,120})"
                            r"|(size of tensor a \(\d+\) must match the size of tensor b \(\d+\))")


def mismatched_sizes(text: str) -> set[int]:
    """The sizes in numpy's or torch's shape-mismatch message ("could not be broadcast together with
    shapes (9,8) (4,8)" -> {9, 8, 4}); empty for any other message (the numbers a learner's own message
    writes are no shapes)."""
    found = SHAPE_MISMATCH.search(text)
    if not found:
        return set()
    return {int(n) for n in re.findall(r"\d+", found.group(1) or found.group(2))}


# ---- case-level mistakes: read from the outcome, not computed ---------------------------------------------
mistake("float32_result", "Your function returns float32 for a float64 input: compute in the input's dtype (cast "
        "the float32 parameters with .astype(x.dtype); do not create float32 arrays or torch tensors inside).")
mistake("float64_result", "Your function returns float64 for a float32 input: return the input's dtype, as the "
        "docstring asks (np.eye, np.zeros, np.array and np.arange make float64 unless given dtype=x.dtype; "
        "a Python float keeps x's dtype; or cast the result with .astype(x.dtype)).")
mistake("wrong_dtype", "Your function returns another dtype than its docstring states (the input's dtype; float32 "
        "for sincos_2d, which has no input array): cast the result to it, e.g. .astype(np.float32).")
mistake("float32_values", "Your float64 result holds float32 values: it was computed (or stored) in float32 and "
        "cast back to float64; compute in the input's dtype from the start (cast the parameters with "
        ".astype(x.dtype); no dtype=np.float32, no torch float32 default).")
mistake("float32_precision", "Your float64 result differs from the expected one by small amounts (at most 1e-5, "
        "where float64 is checked to 1e-8): the size of float32 rounding, or of a constant or approximation "
        "accurate to only a few digits. Either a float32 array or constant enters the computation (a "
        "parameter not cast, dtype=np.float32, a torch default), or a constant or function is approximate "
        "(0.7071 for 1/sqrt(2), an approximation of erf): use the input's dtype and exact constants "
        "(math.sqrt(2), scipy.special.erf).")
mistake("integer_output", "Your function returns integers: build the output from the float inputs (an array "
        "made with dtype=int, or filled into np.zeros_like of an integer array, rounds every value).")
mistake("not_an_array", "Your function returns a list, a tuple or a number where an array is expected: return "
        "one numpy array (np.stack / np.array) or torch tensor.")
mistake("returns_none", "Your function returns None: did you forget the `return` statement?")
mistake("mutates_input", "Your function changes its inputs in place (x += ..., x[...] = ..., an in-place torch "
        "operation): the caller's arrays must stay as they were; work on a copy or write x = x + ...")
mistake("no_value_error", "Your function accepts an image whose sides the patch size does not divide (a VALID "
        "convolution drops the border silently): check H % P and W % P and raise ValueError naming "
        "patch_size and the image size.")
mistake("wrong_error", "Your function raises another exception than ValueError for an image whose sides the "
        "patch size does not divide (torch's reshape raises RuntimeError, an assert AssertionError): check the "
        "sizes yourself and raise ValueError.")

def describe(name: str, exercise: str | None = None) -> str:
    """The hint of a known mistake, or the sentence a property's name stands for (with the advice of the
    exercise called ``exercise``, see :mod:`vit_lessons.grading.properties`)."""
    from . import properties

    if name in MISTAKES:
        return hint(name)
    if exercise is None:
        return properties.describe(name)
    from .registry import exercise as find

    return properties.describe(name, find(exercise).advice)
