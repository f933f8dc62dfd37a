"""Grade one exercise: copy the code, run it apart, compare with the oracle, explain.

For every exercise: the file must exist; the cases run in a sandboxed process (which first reads the
code for forbidden calls, see :mod:`vit_lessons.grading.forbidden`); each output is compared with the
oracle's (:class:`Answers`, computed here, in the grader's process, once for the same cases; the hidden
cases are drawn for the submission's files, :func:`submission_digest`); a failing
case is explained by the known mistakes that reproduce it (:func:`judge`), and the exercise's hint names
a mistake only when it explains every failing case (:func:`diagnose`).  Partial credit: every case is
worth the same share of the exercise's points, but a case that expects an error (``ValueError`` for an
image the patch size does not divide) is credited only when the same function returns a correct result
on at least one valid input (:func:`credit_errors`): raising is no answer by itself.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tempfile
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .diagnostics import compare, lowered, matches, near
from .mistakes import MISTAKES, hint
from .oracle import CORRECT, Stages
from .properties import BEYOND_ROUNDING, property_hint
from .registry import Case, Exercise
from .sandbox import Outcome, Sandbox, run_cases, write_job
from .staging import copy_submission, misplaced, stage_library

#: errors of the kind a shape mistake raises (numpy's ValueError and IndexError, torch's RuntimeError)
SHAPE_ERRORS = ("ValueError", "IndexError", "RuntimeError")
#: how the verdict of an exercise the grader itself failed on begins (no fault of the learner's)
GRADER_FAILED = "could not be graded: the grader failed"


@dataclass
class CaseResult:
    """One case's verdict.  ``explained``: the mistakes that reproduce this failure (their output equals
    the learner's, the learner's error is theirs, or the outcome shows the case-level mistake); ``confirmed``:
    those of them that reproduce it positively (not merely "the mistake would have raised too")."""

    label: str
    passed: bool
    message: str
    explained: frozenset[str] = frozenset()
    confirmed: frozenset[str] = frozenset()
    withheld: bool = False  # the right error, not credited: the function answers no valid input correctly
    error: str = ""  # the error the learner's function raised ("ModuleNotFoundError: No module named ...")
    near: bool = False  # a wrong value within what a lower precision could explain (diagnostics.near)


@dataclass
class ExerciseResult:
    exercise: Exercise
    score: float
    max_score: float
    verdict: str
    cases: list[CaseResult] = field(default_factory=list)
    hint: str = ""
    stdout: str = ""
    mistakes: list[str] = field(default_factory=list)  # the known mistakes the hint names

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score - 1e-9


class Raised:
    """What a computation gave that raised: the exception's type name."""

    def __init__(self, error: BaseException):
        self.type = type(error).__name__


class Answers:
    """The oracle's outputs for one exercise's cases: the expected ones, and what each known mistake of the
    case's function returns, computed once (on first use) and shared by every submission graded on these
    cases.  ``reveal``: whether the feedback may show expected values (the public cases do; the hidden ones
    never)."""

    def __init__(self, exercise: Exercise, cases: list[Case], reveal: bool = False):
        self.exercise, self.cases, self.reveal = exercise, cases, reveal
        self._lock = threading.Lock()
        self._expected: list | None = None
        self._variants: dict[int, dict[str, list]] = {}

    def _run(self, case: Case, stages: Stages):
        return self.exercise.functions[case.func].oracle(stages, *copy.deepcopy(case.args))

    def expected(self) -> list:
        """What each case should return (None for a case that must raise)."""
        with self._lock:
            if self._expected is None:
                self._expected = [None if c.expect_error else self._run(c, CORRECT) for c in self.cases]
            return self._expected

    def variants(self, i: int) -> dict[str, list]:
        """mistake -> the outputs (or :class:`Raised`) of its variants on case ``i``."""
        with self._lock:
            if i not in self._variants:
                case, out = self.cases[i], {}
                for name in self.exercise.functions[case.func].mistakes:
                    outputs = []
                    for variant in MISTAKES[name].variants:
                        try:
                            outputs.append(self._run(case, Stages(variant)))
                        except Exception as exc:  # noqa: BLE001 - the mistake raises on these inputs
                            outputs.append(Raised(exc))
                    out[name] = outputs
                self._variants[i] = out
            return self._variants[i]


_CACHE: OrderedDict[tuple[str, str, bytes], Answers] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: the answers kept for other submissions' digests (a class hands in many identical files: the stubs, the
#: solutions), the least recently used dropped first
CACHE_SIZE = 64


def answers_for(exercise: Exercise, kind: str, cases_of, digest: bytes = b"") -> Answers:
    """The shared :class:`Answers` of ``exercise``'s ``kind`` ("public" or "hidden") cases, made from
    ``cases_of(name)`` (or ``cases_of(name, digest)`` for a submission's ``digest``) the first time."""
    with _CACHE_LOCK:
        key = (exercise.name, kind, digest)
        if key not in _CACHE:
            cases = cases_of(exercise.name, digest) if digest else cases_of(exercise.name)
            _CACHE[key] = Answers(exercise, cases, reveal=kind == "public")
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        return _CACHE[key]


def submission_digest(folder: Path) -> bytes:
    """SHA-256 of the copied submission in ``folder``: every file the learner's process can import (its
    exercise file and every other one beside it), names and contents."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(path.name), path.name.encode(), len(data)) + data)
    return digest.digest()


def _error_text(error: dict | None) -> str:
    if not error:
        return "an error"
    where = error.get("where") or []
    text = f"{error.get('type')}: {error.get('message')}"
    return text + (f" (at {where[-1]})" if where else "")


def _status_message(outcome: Outcome) -> str | None:
    """The message of an outcome that is no value and no ordinary error (time, crash, mutation, stub)."""
    if outcome.status == "timeout":
        return "time limit reached (an endless loop, or far too slow)"
    if outcome.status == "crashed":
        status = (outcome.error or {}).get("returncode")
        return (f"the process ended during this case (os._exit, a crash, or the memory limit; exit status "
                f"{status})")
    if outcome.status == "not_run":
        return "not run: the time limit was used up by earlier cases"
    if outcome.status == "not_started":
        return ("not run: the time limit was reached before the first test started (importing your file and "
                "what it runs at its top level took that long)")
    if outcome.status == "error" and (outcome.error or {}).get("type") == "NotImplementedError":
        return "not implemented yet (the stub still raises NotImplementedError)"
    return None


def _explain_error(answers: Answers, i: int, error: dict) -> tuple[set[str], set[str]]:
    """(explained, confirmed) for case ``i`` whose function raised ``error``."""
    case, explained, confirmed = answers.cases[i], set(), set()
    message = str(error.get("message", ""))
    for name in answers.exercise.functions[case.func].mistakes:
        recognise = MISTAKES[name].recognise_error
        if recognise is not None and recognise(case, message):
            explained.add(name)
            confirmed.add(name)
    if error.get("type") in SHAPE_ERRORS:
        for name, outputs in answers.variants(i).items():
            if any(isinstance(o, Raised) and o.type in SHAPE_ERRORS for o in outputs):
                explained.add(name)
    return explained, confirmed


def _explain_value(answers: Answers, i: int, got, expected) -> set[str]:
    """The mistakes whose output on case ``i`` equals ``got`` and differs from the expected one at the precision
    of ``got`` (a float32 result cannot tell an eps of 1e-5 from 1e-6)."""
    found = set()
    for name, outputs in answers.variants(i).items():
        if any(not isinstance(o, Raised) and matches(got, o) and not matches(lowered(o, got), expected)
               for o in outputs):
            found.add(name)
    return found


def _sent_note(value, expected) -> str:
    """What the learner's process converted to send ``value`` ("a float128 result where float64 is expected,
    sent and compared as float64"), or ""."""
    items = [value]
    while items:
        item = items.pop(0)
        if isinstance(item, tuple | list):
            items += item
        elif isinstance(item, dict):
            items += item.values()
        elif getattr(item, "sent_dtype", ""):
            where = f" where {expected.dtype} is expected" if hasattr(expected, "dtype") else ""
            return f"a {item.sent_dtype} result{where}, sent and compared as {item.dtype}"
    return ""


def credit_errors(cases: list[Case], results: list[CaseResult]) -> list[CaseResult]:
    """``results`` with each case that raised the error it expects credited only when the same function
    returns a correct result on at least one valid input (else failed and ``withheld``: a function that
    raises for every input is not right on these)."""
    working = {c.func for c, r in zip(cases, results, strict=True) if r.passed and not c.expect_error}
    out = []
    for case, result in zip(cases, results, strict=True):
        if case.expect_error and result.passed:
            if case.func in working:
                result = replace(result, message=f"raises {case.expect_error} as it should, credited with a "
                                                 f"correct result on a valid input")
            else:
                result = replace(result, passed=False, withheld=True,
                                 message=f"raises {case.expect_error} as it should, but not credited: "
                                         f"{case.func} returns a correct result on none of the valid inputs")
        out.append(result)
    return out


def judge(exercise: Exercise, case: Case, outcome: Outcome, expected, answers: Answers, i: int) -> CaseResult:
    """Compare one outcome with its expected output and explain a failure by the known mistakes."""
    status = _status_message(outcome)
    if status:
        return CaseResult(case.label, False, status)
    if outcome.mutated:
        return CaseResult(case.label, False, f"your function changed its input(s) {', '.join(outcome.mutated)} in "
                                             f"place (e.g. `x += ...` on an argument): work on a copy",
                          frozenset({"mutates_input"}), frozenset({"mutates_input"}))
    error = outcome.error or {}
    if case.expect_error:
        if outcome.status == "error" and error.get("type") == case.expect_error:
            return CaseResult(case.label, True, f"raises {case.expect_error} as it should")
        if outcome.status == "error":
            return CaseResult(case.label, False, f"should raise {case.expect_error} for these inputs; it raised "
                                                 f"{_error_text(error)}", frozenset({"wrong_error"}),
                              frozenset({"wrong_error"}), error=_error_text(error))
        return CaseResult(case.label, False, f"should raise {case.expect_error} for these inputs; it returned a "
                                             f"value", frozenset({"no_value_error"}), frozenset({"no_value_error"}))
    if outcome.status == "error":
        if error.get("type") == "SystemExit":
            return CaseResult(case.label, False, "your code called sys.exit(): return the result instead")
        if error.get("type") == "MemoryError":
            return CaseResult(case.label, False, "ran out of memory (the memory limit): a far too large array?")
        explained, confirmed = _explain_error(answers, i, error)
        return CaseResult(case.label, False, f"raised {_error_text(error)}", frozenset(explained),
                          frozenset(confirmed), error=_error_text(error))
    sent = _sent_note(outcome.value, expected)
    if sent:  # a dtype the learner's process had to convert is never the one due (the docstrings' dtype contract)
        return CaseResult(case.label, False, f"{sent}: another dtype than the one due fails the test",
                          frozenset({"wrong_dtype"}), frozenset({"wrong_dtype"}))
    ok, message, problem = compare(outcome.value, expected, given=_input_dtype(case), reveal=answers.reveal)
    if ok:
        return CaseResult(case.label, True, "correct")
    found = _explain_value(answers, i, outcome.value, expected)
    if problem in PRECISION:
        if found:  # a known mistake reproduces it: the small difference is that mistake's, not rounding's
            problem = None
        else:
            message += PRECISION[problem]
    if problem:
        found.add(problem)
    return CaseResult(case.label, False, message, frozenset(found), frozenset(found),
                      near=near(outcome.value, expected))


#: what the per-test message adds for a float64 result off by float32-sized differences only
PRECISION = {"float32_values": " (float32 values in a float64 array: computed in float32 and cast back)",
             "float32_precision": " (differences of at most 1e-5: float32 rounding, or a constant or approximation "
                                  "accurate to only a few digits)"}


def _input_dtype(case: Case) -> str | None:
    """The dtype of the case's first float array argument (the input whose dtype the result must have)."""
    return next((a.dtype.name for a in case.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), None)


def _denials(exercise: Exercise) -> tuple[dict[str, str], list[str], list[str]]:
    """What the learner's process may not call: library names -> message, torch names, (package or module,
    why) blocked."""
    message = f"{{name}} is not allowed in exercise {exercise.number}: write it yourself ({exercise.library_why})"
    library = dict.fromkeys(exercise.denied_library, message)
    torch, blocked = [], []
    for rule in exercise.rules:
        if rule.root == "torch" and rule.names:
            torch += list(rule.names)
        elif not rule.names:
            blocked.append((rule.root, rule.why))
        else:  # another package's forbidden modules ("scipy.signal"): never importable at run time either
            blocked += [(f"{rule.root}.{name}", rule.why) for name in rule.names]
    return library, torch, blocked


def grade_exercise(exercise: Exercise, submission_dir: Path, answers: Answers | Callable[[bytes], Answers], *,
                   timeout: float, memory_mb: int = 3072, sandbox: Sandbox | None = None) -> ExerciseResult:
    """Grade ``exercise`` of the submission in ``submission_dir`` on the cases of ``answers``, in ``sandbox``
    (default: one with no operating-system layer, as the self-check uses).  ``answers``: the cases and
    their oracle, or a function of the copied files' :func:`submission_digest` that gives them (the hidden
    cases).  Never raises for anything the submission does: an error of the grading itself gives 0 points
    for this exercise with the error's type."""
    box = sandbox or Sandbox.create("none", unsafe=True)
    try:
        with box.slot() as user, tempfile.TemporaryDirectory(dir=box.root) as tmp:
            Path(tmp).chmod(0o711)
            return _grade(exercise, Path(submission_dir), answers, Path(tmp), box, user, timeout=timeout,
                          memory_mb=memory_mb)
    except Exception as exc:  # noqa: BLE001 - one exercise's failure must not take the others with it
        traceback.print_exc()
        return ExerciseResult(exercise, 0.0, exercise.points, f"{GRADER_FAILED} on this exercise "
                              f"({type(exc).__name__}); ask your instructor")
    finally:
        if sandbox is None:
            box.close()


def _grade(exercise: Exercise, submission_dir: Path, answers, tmp: Path, box: Sandbox, user, *,
           timeout: float, memory_mb: int) -> ExerciseResult:
    zero = ExerciseResult(exercise, 0.0, exercise.points, "", [])
    if not submission_dir.is_dir():
        zero.verdict = f"no submission folder {submission_dir}" + (
            ": it is a file (pass the folder that holds it)" if submission_dir.exists() else "")
        return zero
    job_dir = tmp / "job"
    job_dir.mkdir(mode=0o755)
    refused = copy_submission(submission_dir, job_dir / "submission")
    if exercise.file in refused:
        zero.verdict = f"{exercise.file} was not graded: it is {refused[exercise.file]}; submit the file itself"
        return zero
    if not (job_dir / "submission" / exercise.file).is_file():
        where = misplaced(submission_dir, exercise.file)
        zero.verdict = f"{exercise.file} not found in the submission" + (f"; {where}" if where else "")
        return zero
    helpers_first = sorted(refused.items(), key=lambda item: (item[0].startswith("ex"), item[0]))
    notes = "; ".join(f"{name} not copied ({why})" for name, why in helpers_first[:5])
    if not isinstance(answers, Answers):
        answers = answers(submission_digest(job_dir / "submission"))
    expected = answers.expected()
    library, torch_names, blocked = _denials(exercise)
    stage_library(job_dir / "lib", {}, source=box.library(exercise.number, library))
    cases = answers.cases
    jobs = [{"func": c.func, "args": c.args, "arg_names": exercise.functions[c.func].args} for c in cases]
    write_job(job_dir, exercise=exercise.number, file=exercise.file, cases=jobs, timeout=timeout, memory_mb=memory_mb,
              preload=exercise.preload, rules=list(exercise.all_rules), box=box, user=user, blocked=blocked,
              torch_denied=torch_names)
    outcomes, info = run_cases(job_dir, len(cases), box, user, timeout=timeout)
    result = _verdict(exercise, answers, outcomes, expected, info)
    notes = "; ".join(filter(None, [notes, _folder_note(info["import_error"], submission_dir)]))
    if notes:
        result.hint = "; ".join(filter(None, [result.hint, notes]))
    return result


def _folder_note(error: dict | None, submission_dir: Path) -> str:
    """Why importing a folder of the submission (a package of helpers) failed: only files are copied."""
    found = re.match(r"No module named '([A-Za-z_]\w*)", str((error or {}).get("message", "")))
    if not found or not (submission_dir / found.group(1)).is_dir():
        return ""
    return (f"{found.group(1)}/ is a folder: the grader copies only the Python files beside your exercises; put "
            f"its modules there (and import them by their names)")


def _verdict(exercise: Exercise, answers: Answers, outcomes: list[Outcome], expected: list, info: dict):
    result = ExerciseResult(exercise, 0.0, exercise.points, "", stdout=info["stdout"])
    refused = info["refused"]
    if refused and refused["error"]:
        result.verdict = refused["error"]
        return result
    if refused:
        result.verdict = "not run: a call this exercise does not allow"
        result.hint = "; ".join(refused["violations"][:3])
        return result
    if info["stray"]:
        result.verdict = f"not graded: {len(info['stray'])} process(es) your code started could not be stopped"
        return result
    if info["import_error"]:
        result.verdict = f"importing {exercise.file} failed: {_error_text(info['import_error'])}"
        return result
    cases = answers.cases
    result.cases = credit_errors(cases, [judge(exercise, c, o, e, answers, i)
                                         for i, (c, o, e) in enumerate(zip(cases, outcomes, expected, strict=True))])
    passed = sum(c.passed for c in result.cases)
    result.score = round(exercise.points * passed / len(cases), 2)
    if passed == len(cases):
        result.verdict = f"all {len(cases)} tests passed"
        return result
    if all("not implemented yet" in c.message for c in result.cases):
        result.verdict = "not attempted (the stub still raises NotImplementedError)"
        return result
    result.verdict = f"{passed} of {len(cases)} tests passed" + (f" ({info['problem']})" if info["problem"] else "")
    result.hint, result.mistakes = diagnose(cases, result.cases, exercise.advice)
    return result


# ---- the hint: right or silent ---------------------------------------------------------------------------------
def _first(cases: list[Case], results: list[CaseResult], among: list[int]) -> str:
    i = among[0]
    return f"{cases[i].label}: {results[i].message}"


def diagnose(cases: list[Case], results: list[CaseResult], advice: dict | None = None) -> tuple[str, list[str]]:
    """(the exercise's hint, the known mistakes or properties it names).  A mistake is named alone only when
    it explains every failing case (and reproduces at least one positively); else the property that exactly
    the failing cases share, or each of the few that do (:func:`vit_lessons.grading.properties.property_hint`,
    with the exercise's ``advice``); else the one error every failing case raised; else the mistake explaining
    most failing cases is named with its count ("in 3 of 4 failing tests"); else the first failing case is
    shown with its inputs and its largest difference."""
    failing = [i for i, r in enumerate(results) if not r.passed and not r.withheld] or \
        [i for i, r in enumerate(results) if not r.passed]  # a withheld error fails for the others' sake
    n = len(failing)
    cover: dict[str, set[int]] = {}
    for i in failing:
        for name in results[i].explained:
            cover.setdefault(name, set()).add(i)
    sure = {m: {i for i in failing if m in results[i].confirmed} for m in cover}
    full = [m for m in cover if len(cover[m]) == n and sure[m]]
    if full:
        best = max(len(sure[m]) for m in full)
        top = [m for m in full if len(sure[m]) == best]
        if len(top) > 1:  # any other explanation says more than "small differences"
            top = [m for m in top if m not in PRECISION] or top
        if len(top) == 1:
            return hint(top[0]), top
        return "One of these explains every failing test: " + " Or: ".join(hint(m) for m in top[:3]), top[:3]
    rounding = all(results[i].near for i in failing)  # no failure a precision could not explain
    shared = property_hint(cases, failing, advice if rounding else {**(advice or {}), **BEYOND_ROUNDING})
    if shared:
        return shared
    raised = {results[i].error for i in failing}
    if len(raised) == 1 and "" not in raised:  # one error everywhere: that is the story, whatever explains a few
        return f"every failing test raises the same error: {raised.pop()}", []
    partial = sorted((m for m in cover if sure[m]), key=lambda m: (-len(cover[m]), -len(sure[m])))
    if partial:
        name = partial[0]
        rest = [i for i in failing if i not in cover[name]]
        other = "The other failing test" if len(rest) == 1 else f"The first of the other {len(rest)} failing tests"
        return (f"In {len(cover[name])} of {n} failing tests: {hint(name)} {other}: {_first(cases, results, rest)}",
                [name])
    return f"first failing test: {_first(cases, results, failing)}", []
