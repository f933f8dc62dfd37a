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


def numbers_in(text: str) -> set[int]:
    """The integers written in an error message ("shapes (9,8) (4,8)" -> {9, 8, 4})."""
    return {int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", text)}


# ---- case-level mistakes: read from the outcome, not computed ---------------------------------------------
mistake("float32_result", "Your function returns float32 for a float64 input: compute in the input's dtype (cast "
        "the float32 parameters with .astype(x.dtype); do not create float32 arrays or torch tensors inside).")
mistake("float32_precision", "Your result has the input's dtype but only float32 precision: a float32 array "
        "(a parameter, a constant made with dtype=np.float32, a torch default) enters the computation "
        "somewhere; cast everything to the input's dtype.")
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

#: (axis, value) of the cases' ``meta`` -> (which tests have it, what to look at when exactly those fail)
AXES: dict[tuple[str, str], tuple[str, str]] = {
    ("batch", "batched"): ("with a batch axis", "write the function for any number of leading axes (index from the "
                           "end: x[..., 0, :], axis=-1 or -2, np.swapaxes(k, -1, -2) rather than k.T)."),
    ("batch", "unbatched"): ("without a batch axis", "do not assume a leading batch axis; index from the end."),
    ("grid", "non-square"): ("with a non-square grid (H/P != W/P)", "keep the grid's height and width apart (not "
                             "int(sqrt(N)), not one size for both)."),
    ("grid", "one patch"): ("with a single patch", "keep the axes of length 1 (np.squeeze and x[0] drop them)."),
    ("channels", "one"): ("with a single channel", "keep the channel axis of length 1 (np.squeeze drops it)."),
    ("dtype", "float64"): ("in float64", "compute in the input's dtype (cast the float32 parameters with "
                           ".astype(x.dtype))."),
    ("heads", "several"): ("with several heads", "check how the D features are split into heads (head h takes "
                           "features h*d ... (h+1)*d - 1) and merged back, and the 1/sqrt(d) scale with d = D / "
                           "num_heads."),
    ("layers", "several"): ("with several layers", "each block i reads its own parameters blocks.{i}.*, and takes "
                            "the previous block's output."),
    ("scores", "large"): ("with large attention scores", "exp overflows: subtract each row's maximum before exp "
                          "(the softmax does not change)."),
    ("scale", "small"): ("whose input has a small variance", "that is where LayerNorm's eps shows: (x - mean) / "
                         "sqrt(var + eps), eps = 1e-6, the biased variance."),
    ("prefix", "one"): ("with a class token", "the first num_prefix_tokens rows are the class token: leave them out "
                        "of the mean, read token 0 for 'cls'."),
    ("prefix", "none"): ("without a class token", "with num_prefix_tokens = 0 every row is a patch token."),
    ("call", "prefix left out"): ("that leaves num_prefix_tokens out", "give it its default, num_prefix_tokens=0."),
    ("cls", "with"): ("with a class token", "prepend the class token first, then add the (N + 1, D) positions."),
    ("cls", "without"): ("without a class token", "with cls_token=None add the (N, D) positions to the tokens as "
                         "they are."),
    ("keys", "more than queries"): ("whose keys outnumber the queries", "Q K^T is (Tq, Tk), its softmax runs over "
                                    "the keys (the last axis), and the scale is 1/sqrt(d), d the width of q and k."),
}


def axis_hint(*groups: tuple[str, str], func: str | None = None) -> str:
    """What it means when exactly the tests with every (axis, value) of ``groups`` (of the function ``func``)
    fail: "Every test with a batch axis fails, and no other: ..."."""
    which = [AXES.get(g, (f"with {g[0]} {g[1]}", f"look at what your code assumes about the {g[0]}.")) for g in groups]
    of = f" of {func}" if func else ""
    return (f"Every test{of} {' and '.join(w for w, _ in which)} fails, and no other: "
            + " ".join(advice[0].upper() + advice[1:] for _, advice in which))


def axis_name(groups, func: str | None = None) -> str:
    """The name the report gives a shared property: "batch=batched", "add_positions:batch=batched&cls=with"."""
    return (f"{func}:" if func else "") + "&".join(f"{axis}={value}" for axis, value in groups)


def describe(name: str) -> str:
    """The hint of a known mistake, or the axis hint an :func:`axis_name` stands for."""
    if name in MISTAKES:
        return hint(name)
    func, _, groups = name.rpartition(":")
    return axis_hint(*(tuple(g.split("=", 1)) for g in groups.split("&")), func=func or None)
