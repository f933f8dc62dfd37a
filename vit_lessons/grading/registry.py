"""The exercises as a registry: one small definition each, registered the way timm registers its models.

    @register_exercise
    def pooling() -> Exercise:
        return Exercise(6, "pooling", functions={"pool": Function(("x", "mode", "num_prefix_tokens"),
                        oracle=..., mistakes=("cls_in_mean", ...))}, library=CHAPTERS[5], cases=pool_cases)

A definition (one module of :mod:`vit_lessons.grading.exercises` per exercise) holds the exercise's file,
its functions with their argument names, the oracle of each (:mod:`vit_lessons.grading.oracle`) and the
known mistakes tried on it, the library functions it may use (every other function of ``vit_lessons`` is
denied, by the source reading and at run time alike), the other packages' forbidden calls, and ONE case
generator ``cases(rng, repeat)``: the self-check's public cases are its one draw (``repeat=1``) with a public
seed, in which every structural choice cycles through its values (:func:`vit_lessons.grading.draws.pick`),
the grader's hidden cases its draws with a secret seed (:mod:`vit_lessons.grading.hidden`), so both vary the
same axes (dtype, batch, grid, heads, layers, ...; each case names its kind on each axis in ``meta`` and its
drawn structural values in ``drawn``) and the public cases take every structural value the hidden ones can.
An exercise's ``advice`` says what to check when exactly the tests with one property fail (its own words;
:mod:`vit_lessons.grading.properties` holds the wording true for every exercise).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vit_lessons as V

from .draws import public_draw
from .forbidden import Rule
from .staging import library_definitions

POINTS = 10.0
#: |got - expected| <= atol + rtol * |expected|, per dtype of the expected output
TOLERANCES = {"float32": (1e-4, 1e-4), "float64": (1e-8, 1e-8)}
#: the public cases: draws of the same generators as the hidden ones, with this seed
PUBLIC_SEED = 0

#: library modules every exercise may use: they compute nothing an exercise asks for (arrays and
#: engines, argument checks, the configuration, x W^T + b)
INFRASTRUCTURE = ("vit_lessons", "vit_lessons.backend", "vit_lessons.checks", "vit_lessons.config", "vit_lessons.ops")
#: the library's functions by the chapter that teaches them (an exercise may use those of earlier chapters)
CHAPTER_FUNCTIONS = {
    1: ("patchify", "unpatchify", "conv_windows"),
    2: ("patch_embed", "patch_embed_matrix"),
    3: ("sincos_1d", "sincos_2d", "prepend_cls", "embed"),
    4: ("softmax", "scaled_dot_product_attention", "split_heads", "merge_heads", "multi_head_attention"),
    5: ("layer_norm", "gelu", "mlp", "encoder_block", "encoder"),
    6: ("pool", "head"),
    7: ("init_params", "check_params", "check_images", "forward"),
}


def chapters(*numbers: int) -> tuple[str, ...]:
    """The library functions of the chapters ``numbers``."""
    return tuple(name for n in numbers for name in CHAPTER_FUNCTIONS[n])


@dataclass
class Case:
    """One call of one function: ``label`` describes the inputs by their shapes only; ``meta`` names the
    case's kind on each axis the cases vary (e.g. {"dtype": "float64", "batch": "batched"}); ``drawn`` the
    structural values drawn within its kind (e.g. {"batch": "1", "patch": "3"}, see draws.Draw)."""

    func: str
    args: tuple
    label: str
    expect_error: str | None = None  # e.g. "ValueError": the function must raise it
    meta: dict[str, str] = field(default_factory=dict)
    drawn: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Function:
    """A function the learner writes: its argument names, what it should return (``oracle(stages, *args)``)
    and the known mistakes tried when it returns something else."""

    args: tuple[str, ...]
    oracle: Callable
    mistakes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    number: int
    name: str
    functions: dict[str, Function]
    library: tuple[str, ...]  # the vit_lessons functions it may use, besides INFRASTRUCTURE
    library_why: str  # why the others are denied, shown with each denial
    cases: Callable[[np.random.Generator, int], list[Case]]  # (rng, repeat) -> cases
    rules: tuple[Rule, ...] = ()  # other packages' forbidden calls (torch ...)
    points: float = POINTS
    bonus: bool = False
    preload: tuple[str, ...] = ("numpy", "vit_lessons")
    #: (axis, value) -> what to check when exactly the tests with that property fail; (axis, "") -> what the
    #: tests of that axis vary, for any other value (see :mod:`vit_lessons.grading.properties`)
    advice: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return f"ex{self.number:02d}_{self.name}.py"

    @property
    def title(self) -> str:
        return f"{self.number:02d} {self.name}" + (" (bonus)" if self.bonus else "")

    @property
    def denied_library(self) -> tuple[str, ...]:
        """Every function and class of the library this exercise may not use: all but ``library`` and
        the infrastructure modules."""
        return denied_names(self.library)

    @property
    def all_rules(self) -> tuple[Rule, ...]:
        """The forbidden calls, as the source reading checks them (the run-time denial stubs the same
        library names and denies the same torch names)."""
        library = Rule("vit_lessons", self.denied_library, self.library_why, exact=True)
        return (library, *self.rules, GRADER_RULE)


#: no exercise may import the grader: its reference computation would be the answer
GRADER_RULE = Rule("vit_lessons", ("grading", "grade", "release"), "the grader is not part of any exercise")

EXERCISES: dict[str, Exercise] = {}


def register_exercise(definition: Callable[[], Exercise]) -> Callable[[], Exercise]:
    """Register the exercise that ``definition()`` returns under its name (the function's own name)."""
    ex = definition()
    if ex.name != definition.__name__:
        raise ValueError(f"the definition {definition.__name__}() returns exercise {ex.name!r}: name them alike")
    if ex.name in EXERCISES or any(e.number == ex.number for e in EXERCISES.values()):
        raise ValueError(f"exercise {ex.number} {ex.name!r} is registered twice")
    EXERCISES[ex.name] = ex
    ordered = sorted(EXERCISES.values(), key=lambda e: e.number)
    EXERCISES.clear()
    EXERCISES.update((e.name, e) for e in ordered)
    return definition


def exercise(name: str) -> Exercise:
    """The exercise called ``name`` (e.g. "vit_forward"); ValueError naming the choices otherwise."""
    if name not in EXERCISES:
        raise ValueError(f"exercise {name!r}: expected one of {', '.join(EXERCISES)}")
    return EXERCISES[name]


@functools.cache
def _definitions() -> dict[str, tuple[str, ...]]:
    return library_definitions()


@functools.cache
def denied_names(allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The library's public functions and classes outside ``allowed`` and the infrastructure modules."""
    keep = set(allowed) | {n for m in INFRASTRUCTURE for n in _definitions().get(m, ())}
    unknown = set(allowed) - {n for names in _definitions().values() for n in names}
    if unknown:
        raise ValueError(f"allowed library functions {sorted(unknown)}: not defined in vit_lessons")
    return tuple(sorted({n for names in _definitions().values() for n in names
                         if not n.startswith("_") and n not in keep}))


def named_mistakes(name: str) -> list[tuple[str, str]]:
    """(mistake, hint) of every known mistake the diagnostics of exercise ``name`` can name, in the order
    its definition lists them (each once), e.g. for a chapter's list of what the grader recognises."""
    from .mistakes import hint

    names = dict.fromkeys(m for f in exercise(name).functions.values() for m in f.mistakes)
    return [(m, hint(m)) for m in names]


def _has_float64(value) -> bool:
    """Whether an argument (an array, or a tuple, list or dict of them) holds a float64 array."""
    if isinstance(value, dict):
        return any(_has_float64(v) for v in value.values())
    if isinstance(value, tuple | list):
        return any(_has_float64(v) for v in value)
    return getattr(value, "dtype", None) == np.float64


def case_mistakes(name: str) -> list[tuple[str, str]]:
    """(mistake, hint) of every case-level mistake the diagnostics of exercise ``name`` can name: those read
    from a test's outcome rather than reproduced by the reference (:mod:`vit_lessons.grading.mistakes`).  Every
    exercise can return None, a list, integers or change its inputs; the float32 ones apply when some test
    passes float64 inputs, the ValueError ones when some test must raise."""
    from .mistakes import MISTAKES

    cases = public_cases(name)
    float64 = any(_has_float64(c.args) for c in cases)
    raises = any(c.expect_error for c in cases)
    applies = {"float32_result": float64, "float32_precision": float64, "no_value_error": raises,
               "wrong_error": raises}
    return [(m.name, m.hint) for m in MISTAKES.values() if not m.variants and applies.get(m.name, True)]


#: the grader draws every kind of case this many times (the self-check once)
HIDDEN_REPEAT = 2


def graded_case_count(name: str) -> int:
    """How many cases the grader runs for exercise ``name``: the size of its hidden draw, whatever its values."""
    ex = exercise(name)
    return len(ex.cases(np.random.default_rng([PUBLIC_SEED, ex.number, HIDDEN_REPEAT]), HIDDEN_REPEAT))


def public_cases(name: str) -> list[Case]:
    """The self-check's cases of exercise ``name``: one draw of each of its kinds of case, every structural
    choice cycling through its values."""
    ex = exercise(name)
    with public_draw():
        return ex.cases(np.random.default_rng([PUBLIC_SEED, ex.number]), 1)


def find_submission(start: Path | None = None, file: str = "exNN_name.py") -> Path:
    """The learner's exercises: the ``exercises/`` folder of the current directory (or ``start``) or of one of
    its parents, else the current directory itself when it holds exercise files (a notebook's folder), else
    the ``exercises/`` beside the library (an editable install in a clone of the repository).
    FileNotFoundError naming where it looked and what to pass otherwise (``file``: the exercise's file, for
    the message)."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "exercises").is_dir() and any((d / "exercises").glob("ex[0-9][0-9]_*.py")):
            return d / "exercises"
    if any(here.glob("ex[0-9][0-9]_*.py")):
        return here
    beside = Path(V.__file__).resolve().parent.parent / "exercises"
    if beside.is_dir() and any(beside.glob("ex[0-9][0-9]_*.py")):
        return beside
    raise FileNotFoundError(f"no exercises/ folder in {here} or its parents: pass "
                            f"submission='path/to/your/exercises' (the folder that holds {file})")
