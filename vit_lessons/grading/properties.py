"""Which property exactly the failing tests share: the hint's second resort, right or silent.

A case names its kind on each axis (``meta``: {"grid": "non-square", "dtype": "float64"}) and the structural
values drawn within its kind (``drawn``: {"grid": "2x3", "patch": "3", "batch": "1"}); with more than one
function, the function is an axis too.  The failing tests are *explained* by

- one axis, when they are exactly the tests with one or more of its values: its kinds when they suffice
  ("with a non-square grid"), else its drawn values ("with a single channel or with 2 channels", "with
  patch size 3 or 4"); never the tests that lack the axis, nor all the tests that have it;
- two kinds of two axes ("of multi_head_attention with several heads", "with a batch axis and in
  float64"), when neither kind alone is exactly those tests.

:func:`property_hint` names what explains the failing tests when that is one property, or each of a few
("Or:" between them), so that a learner never reads one property where another fits the same tests; the
advice attached is the exercise's own (``Exercise.advice``) or wording true for every exercise
(:data:`ADVICE`, :data:`ABOUT`).  The kinds of every exercise are designed so that each kind, and each
pair of kinds, is the only explanation of its own tests (``tests/test_grading_hints.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

#: (axis, kind) -> which tests have it
PHRASES = {
    ("batch", "batched"): "with a batch axis", ("batch", "unbatched"): "without a batch axis",
    ("grid", "square"): "with a square grid", ("grid", "non-square"): "with a non-square grid (H/P != W/P)",
    ("grid", "one patch"): "with a single patch", ("grid", "one row"): "with a grid of one row",
    ("grid", "1 x n"): "with a non-square grid of one row or column",
    ("grid", "m x n"): "with a non-square grid of at least 2 rows and 2 columns",
    ("channels", "one"): "with a single channel", ("channels", "several"): "with several channels",
    ("dtype", "float32"): "in float32", ("dtype", "float64"): "in float64",
    ("heads", "one"): "with one head", ("heads", "several"): "with several heads",
    ("layers", "one"): "with a single layer", ("layers", "several"): "with several layers",
    ("scores", "large"): "with large attention scores", ("scores", "normal"): "with ordinary attention scores",
    ("scale", "small"): "whose input has a small variance", ("scale", "normal"): "whose input has unit variance",
    ("prefix", "one"): "with a class token", ("prefix", "none"): "without a class token",
    ("call", "prefix left out"): "that leaves num_prefix_tokens out",
    ("call", "prefix given"): "that passes num_prefix_tokens",
    ("cls", "with"): "with a class token", ("cls", "without"): "without a class token",
    ("keys", "more than queries"): "whose keys outnumber the queries",
    ("keys", "as many as queries"): "with as many keys as queries",
    ("mode", "mean"): "with mode='mean'", ("mode", "cls"): "with mode='cls'",
    ("error", "ValueError"): "that must raise ValueError",
}
#: axis -> which tests have one drawn value of it (a grid's: see PHRASES)
FINE = {"batch": "with a batch of {}", "channels": "with {} channels", "heads": "with {} heads",
        "layers": "with {} layers", "patch": "with patch size {}", "d_ff": "with d_ff = {} (D = d_model)"}
#: axis -> what a learner's code may assume about it (for any value of it that has no advice of its own)
ABOUT = {"batch": "the batch axis (a batch of one image too: np.squeeze and x[0] drop an axis of length 1)",
         "grid": "the grid's height and width", "channels": "the number of channels C (the image's last axis)",
         "dtype": "the dtype (compute in the input's dtype and return it)", "heads": "the number of heads",
         "layers": "the number of layers", "patch": "the patch size P", "d_ff": "the MLP's width d_ff",
         "scores": "the size of the attention scores", "scale": "the input's scale", "prefix": "the class token",
         "call": "num_prefix_tokens' default", "cls": "the class token", "keys": "the keys' count and width",
         "mode": "the mode", "error": "the sizes the patch size must divide"}
#: (axis, value) -> advice true for every exercise that has the axis
ADVICE = {
    ("batch", "batched"): "write the function for any number of leading axes (index from the end: x[..., 0, :], "
                          "axis=-1 or -2, np.swapaxes(k, -1, -2) rather than k.T).",
    ("batch", "unbatched"): "do not assume a leading batch axis; index from the end.",
    ("batch", "1"): "keep the batch axis when it has length 1 (np.squeeze and x[0] drop it).",
    ("grid", "one patch"): "keep the axes of length 1 (np.squeeze and x[0] drop them).",
    ("channels", "one"): "keep the channel axis of length 1 (np.squeeze drops it).",
    ("dtype", "float64"): "float64 is checked to 1e-8: compute in the input's dtype (every array you make or "
                          "cast takes x.dtype) with exact constants and functions (a float32 array mixed in, 0.7071 "
                          "for 1/sqrt(2) or an approximate erf show at that precision).",
    ("dtype", "float32"): "compute in the input's dtype and return it (np.eye, np.zeros and np.array make float64 "
                          "unless given dtype=x.dtype).",
}

#: the advice for the float64 tests when they fail by more than float32 rounding (ADVICE's is about precision)
BEYOND_ROUNDING = {("dtype", "float64"): "their differences are larger than float32 rounding, so precision is not "
                                         "the cause: the float32 tests may pass by chance (an order of axes that is "
                                         "wrong can be right on some shapes); follow the first failing test through "
                                         "your steps."}


@dataclass(frozen=True)
class Part:
    """The tests whose value on ``axis`` is one of ``values`` (kinds, or drawn values when ``drawn``)."""

    axis: str
    values: tuple[str, ...]
    drawn: bool = False


Condition = tuple[Part, ...]


def value_of(case, axis: str, drawn: bool):
    """The case's kind on ``axis`` (its drawn value there when ``drawn`` and it has one); None if it has
    neither.  An axis that is only drawn ("patch") has its drawn values as kinds."""
    if axis == "func":
        return case.func
    if drawn and axis in case.drawn:
        return case.drawn[axis]
    return case.meta.get(axis, case.drawn.get(axis))


def classes(cases, axis: str, drawn: bool = False) -> dict:
    """value -> the indices of the cases with it, in order of first appearance."""
    out: dict = {}
    for i, case in enumerate(cases):
        out.setdefault(value_of(case, axis, drawn), set()).add(i)
    return out


def axes_of(cases, designed: bool = False) -> list[str]:
    """The axes the cases vary: "func" (with several functions), the kinds', then (unless ``designed``)
    the axes that are only drawn."""
    names = dict.fromkeys(["func"] if len({c.func for c in cases}) > 1 else [])
    names.update(dict.fromkeys(a for c in cases for a in c.meta))
    if not designed:
        names.update(dict.fromkeys(a for c in cases for a in c.drawn))
    return list(names)


def _one_axis(cases, axis: str, failing: frozenset, designed: bool) -> Part | None:
    for drawn in (False,) if designed else (False, True):
        groups = classes(cases, axis, drawn)
        inside = [v for v, members in groups.items() if members <= failing]
        if set().union(*(groups[v] for v in inside)) != failing:
            continue
        if None in inside or len(inside) == len(groups) - (None in groups):
            return None  # tests lacking the axis, or all tests having it: not a property of its values
        inside.sort(key=lambda v: ((axis, v) not in PHRASES, len(v), v))  # kinds first, then 2 < 3 < 10
        return Part(axis, tuple(inside), drawn or axis != "func" and not any(axis in c.meta for c in cases))
    return None


def explanations(cases, failing, designed: bool = False) -> list[Condition]:
    """Every property (one axis, or two kinds) whose tests are exactly ``failing`` (indices into ``cases``):
    the kinds' first, single axes before pairs.  ``designed``: the kinds only (no drawn values)."""
    failing = frozenset(failing)
    if not failing or len(failing) == len(cases):
        return []
    axes = axes_of(cases, designed)
    found: list[Condition] = [(p,) for a in axes if (p := _one_axis(cases, a, failing, designed))]
    kinds = axes_of(cases, designed=True)
    singles = [((a, v), frozenset(m)) for a in kinds for v, m in classes(cases, a).items() if v is not None]
    for ((a, va), ma), ((b, vb), mb) in combinations(singles, 2):
        if a != b and ma & mb == failing and failing not in (ma, mb):
            found.append((Part(a, (va,)), Part(b, (vb,))))
    return sorted(found, key=lambda c: (any(p.drawn for p in c), len(c)))


def name(condition: Condition) -> str:
    """How the report names a property: "batch=batched", "unpatchify:channels=one", "patch=3|4"."""
    func = [p.values[0] for p in condition if p.axis == "func"]
    rest = "&".join(f"{p.axis}={'|'.join(p.values)}" for p in condition if p.axis != "func")
    return "".join(f"{f}:" for f in func) + rest


def parse(text: str) -> Condition:
    func, _, rest = text.rpartition(":")
    parts = [Part(axis, tuple(values.split("|"))) for axis, _, values in (g.partition("=") for g in rest.split("&")
                                                                           if g)]
    return ((Part("func", (func,)),) if func else ()) + tuple(parts)


def phrase(axis: str, *values: str) -> str:
    """Which tests have one of ``values`` on ``axis``: "with several heads", "with a single channel or with
    2 channels", "with patch size 3 or 4"."""
    said = [PHRASES[axis, v] for v in values if (axis, v) in PHRASES]
    drawn = [v for v in values if (axis, v) not in PHRASES]
    if drawn:
        said.append(FINE.get(axis, "with " + axis + " {}").format(" or ".join(drawn)))
    return " or ".join(said)


def _advice(part: Part, advice: dict) -> str:
    if len(part.values) == 1:
        found = advice.get((part.axis, part.values[0])) or ADVICE.get((part.axis, part.values[0]))
        if found:
            return found
    about = advice.get((part.axis, "")) or ABOUT.get(part.axis, f"the {part.axis}")
    return f"look at what your code assumes about {about}."


def sentence(condition: Condition, advice: dict | None = None) -> str:
    """"Every test with a batch axis fails, and no other: <what to check>" for one property."""
    advice = advice or {}
    func = "".join(f" of {p.values[0]}" for p in condition if p.axis == "func")
    parts = [p for p in condition if p.axis != "func"]
    which = " and ".join(phrase(p.axis, *p.values) for p in parts)
    checks = [_advice(p, advice) for p in parts]
    checks = [c[0].upper() + c[1:] for c in dict.fromkeys(checks)]
    return f"Every test{func}{' ' if which else ''}{which} fails, and no other" + (
        ": " + " ".join(checks) if checks else ".")


#: more properties than this fitting the same failing tests: none is named
MOST = 3


def property_hint(cases, failing, advice: dict | None = None) -> tuple[str, list[str]] | None:
    """(hint, names) when one property, or a few, are exactly the failing tests; None otherwise."""
    found = explanations(cases, failing)
    if not found or len(found) > MOST:
        return None
    text = " Or: ".join(sentence(c, advice) for c in found)
    if len(found) > 1:
        text = f"The failing tests are exactly those of {len(found)} properties: {text}"
    return text, [name(c) for c in found]


def describe(text: str, advice: dict | None = None) -> str:
    """The sentence a property's :func:`name` stands for."""
    return sentence(parse(text), advice)
