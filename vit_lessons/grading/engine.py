"""Grade one exercise: read the code, run it apart, compare, explain.

For every exercise: the file must exist and parse; the forbidden calls are looked for in its code (a
forbidden call scores 0 and the code is not run); the cases run in a sandboxed process; each output is
compared with the expected one (computed here, in the grader's process); a wrong output is compared with
the outputs of the known mistakes and the closest match is named.  Partial credit: every case is worth
the same share of the exercise's points.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import mistakes
from .diagnostics import compare, distance, matches
from .forbidden import violations
from .sandbox import Outcome, run_cases
from .spec import Case, Exercise


@dataclass
class CaseResult:
    label: str
    passed: bool
    message: str
    mistake: str | None = None


@dataclass
class ExerciseResult:
    exercise: Exercise
    score: float
    max_score: float
    verdict: str
    cases: list[CaseResult] = field(default_factory=list)
    hint: str = ""
    stdout: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score - 1e-9


def load_solution(exercise: Exercise, solutions_dir: Path):
    """The reference module ``solutions/exNN_*.py`` (trusted code, run in the grader's process)."""
    path = Path(solutions_dir) / exercise.file
    if str(solutions_dir) not in sys.path:
        sys.path.insert(0, str(solutions_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_outputs(exercise: Exercise, cases: list[Case], solutions_dir: Path | None) -> list:
    """What each case should return: from the solutions when given, else from the library's reference."""
    module = load_solution(exercise, solutions_dir) if solutions_dir else None
    out = []
    for case in cases:
        if case.expect_error:
            out.append(None)
        elif module is not None:
            out.append(getattr(module, case.func)(*copy.deepcopy(case.args)))
        else:
            out.append(mistakes.reference(exercise.name, case.func, copy.deepcopy(case.args)))
    return out


def _error_text(error: dict | None) -> str:
    if not error:
        return "an error"
    where = error.get("where") or []
    text = f"{error.get('type')}: {error.get('message')}"
    return text + (f" (at {where[-1]})" if where else "")


def judge(exercise: Exercise, case: Case, outcome: Outcome, expected) -> CaseResult:
    """Compare one outcome with its expected output; name a known mistake when one matches."""
    if outcome.status == "timeout":
        return CaseResult(case.label, False, "time limit reached (an endless loop, or far too slow)")
    if outcome.status == "crashed":
        return CaseResult(case.label, False, "the process ended during this case (os._exit, a crash, or the "
                                             "memory limit)")
    if outcome.status == "not_run":
        return CaseResult(case.label, False, "not run: the time limit was used up by earlier cases")
    if outcome.mutated:
        return CaseResult(case.label, False, f"your function changed its input(s) {', '.join(outcome.mutated)} in "
                                             f"place (e.g. `x += ...` on an argument): work on a copy")
    if outcome.status == "error" and (outcome.error or {}).get("type") == "NotImplementedError":
        return CaseResult(case.label, False, "not implemented yet (the stub still raises NotImplementedError)")
    if case.expect_error:
        if outcome.status == "error" and outcome.error.get("type") == case.expect_error:
            return CaseResult(case.label, True, f"raised {case.expect_error}, as it should")
        got = _error_text(outcome.error) if outcome.status == "error" else "returned a value"
        return CaseResult(case.label, False, f"should raise {case.expect_error} for these inputs; it {got}")
    if outcome.status == "error":
        error = outcome.error or {}
        if error.get("type") == "SystemExit":
            return CaseResult(case.label, False, "your code called sys.exit(): return the result instead")
        if error.get("type") == "MemoryError":
            return CaseResult(case.label, False, "ran out of memory (the memory limit): a far too large array?")
        return CaseResult(case.label, False, f"raised {_error_text(error)}")
    ok, message = compare(outcome.value, expected)
    if ok:
        return CaseResult(case.label, True, "correct" if message == "ok" else f"correct ({message})")
    found = []
    for name, value in mistakes.variants(exercise.name, case.func, copy.deepcopy(case.args)).items():
        if matches(outcome.value, value) and not matches(value, expected):
            found.append((distance(outcome.value, value), name))
    return CaseResult(case.label, False, message, min(found)[1] if found else None)


def _preload(exercise: Exercise, folder: Path) -> tuple[str, ...]:
    """The exercise's usual modules, and torch only when a file of the submission imports it (importing
    torch takes seconds, and must happen before the child's audit hook, which refuses ctypes)."""
    uses_torch = any(re.search(r"^\s*(import|from)\s+torch\b", p.read_text(errors="replace"), re.M)
                     for p in folder.glob("*.py") if p.stat().st_size < 1_000_000)
    return tuple(m for m in (*exercise.preload, "torch") if m != "torch" or uses_torch)


def grade_exercise(exercise: Exercise, submission_dir: Path, cases: list[Case], *, solutions_dir: Path | None,
                   timeout: float, memory_mb: int = 3072) -> ExerciseResult:
    """Grade ``exercise`` of the submission in ``submission_dir`` on ``cases``."""
    path = Path(submission_dir) / exercise.file
    zero = ExerciseResult(exercise, 0.0, exercise.points, "", [])
    if not path.is_file():
        zero.verdict = f"{exercise.file} not found in the submission"
        return zero
    try:
        source = path.read_text(errors="replace")
        found = violations(source, list(exercise.all_rules), exercise.file)
    except SyntaxError as exc:
        zero.verdict = f"{exercise.file} does not parse: line {exc.lineno}: {exc.msg}"
        return zero
    if found:
        zero.verdict = "not run: a call this exercise does not allow"
        zero.hint = "; ".join(found[:3])
        return zero
    expected = expected_outputs(exercise, cases, solutions_dir)
    jobs = [{"func": c.func, "args": c.args, "arg_names": exercise.functions[c.func]} for c in cases]
    outcomes, info = run_cases(path, jobs, timeout=timeout, memory_mb=memory_mb,
                               preload=_preload(exercise, Path(submission_dir)))
    result = ExerciseResult(exercise, 0.0, exercise.points, "", stdout=info["stdout"])
    if info["import_error"]:
        result.verdict = f"importing {exercise.file} failed: {_error_text(info['import_error'])}"
        return result
    result.cases = [judge(exercise, c, o, e) for c, o, e in zip(cases, outcomes, expected, strict=True)]
    passed = sum(c.passed for c in result.cases)
    result.score = round(exercise.points * passed / len(cases), 2)
    if passed == len(cases):
        result.verdict = f"all {len(cases)} tests passed"
    elif all("not implemented yet" in c.message for c in result.cases):
        result.verdict = "not attempted (the stub still raises NotImplementedError)"
    else:
        result.verdict = f"{passed} of {len(cases)} tests passed"
    counts = Counter(c.mistake for c in result.cases if c.mistake)
    if counts:
        name, n = counts.most_common(1)[0]
        failed = sum(not c.passed for c in result.cases)
        result.hint = f"{mistakes.HINTS[name]} (this mistake reproduces {n} of the {failed} failing tests)"
    elif passed < len(cases) and "not attempted" not in result.verdict:
        first = next(c for c in result.cases if not c.passed)
        result.hint = f"first failing test: {first.label}: {first.message}"
    return result
