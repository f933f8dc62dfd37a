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
import sys
import tempfile
import threading
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import mistakes
from .diagnostics import compare, distance, matches
from .sandbox import Outcome, Sandbox, run_cases, write_job
from .spec import Case, Exercise
from .staging import copy_submission, stage_library

_SOLUTIONS_LOCK = threading.Lock()


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


@contextmanager
def solutions_importable(solutions_dir: Path):
    """While inside: the solution files import each other (``from ex05_encoder_block import ...``, also inside
    their functions).  Afterwards the process's import path and modules are as they were."""
    folder = str(Path(solutions_dir).resolve())
    names = {p.stem for p in Path(folder).glob("*.py")}
    with _SOLUTIONS_LOCK:
        shadowing = {n: sys.modules.pop(n) for n in names & set(sys.modules)}  # same-named modules of others
        sys.path.insert(0, folder)
        try:
            yield
        finally:
            sys.path.remove(folder)
            for name in names & set(sys.modules):
                del sys.modules[name]
            sys.modules.update(shadowing)


def load_solution(exercise: Exercise, solutions_dir: Path):
    """The reference module ``solutions/exNN_*.py`` (trusted code, run in the grader's process; call it
    inside :func:`solutions_importable`)."""
    path = Path(solutions_dir) / exercise.file
    spec = importlib.util.spec_from_file_location(f"_solution_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_outputs(exercise: Exercise, cases: list[Case], solutions_dir: Path | None) -> list:
    """What each case should return: from the solutions when given, else from the library's reference."""
    if solutions_dir is None:
        return [None if c.expect_error else mistakes.reference(exercise.name, c.func, copy.deepcopy(c.args))
                for c in cases]
    with solutions_importable(solutions_dir):
        module = load_solution(exercise, solutions_dir)
        return [None if c.expect_error else getattr(module, c.func)(*copy.deepcopy(c.args)) for c in cases]


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


def _denials(exercise: Exercise) -> tuple[dict[str, str], list[str], list[str]]:
    """What the learner's process may not call: library names -> message, torch names, packages blocked."""
    library, torch, blocked = {}, [], []
    for rule in exercise.rules:
        if rule.root == "vit_lessons":
            for name in rule.names:
                library[name] = f"{{name}} is not allowed in exercise {exercise.number}: write it yourself ({rule.why})"
        elif rule.root in ("torch", "*"):
            torch += list(rule.names)
        elif not rule.names:
            blocked.append(rule.root)
    return library, torch, blocked


def grade_exercise(exercise: Exercise, submission_dir: Path, cases: list[Case], *, solutions_dir: Path | None,
                   timeout: float, memory_mb: int = 3072, sandbox: Sandbox | None = None) -> ExerciseResult:
    """Grade ``exercise`` of the submission in ``submission_dir`` on ``cases``, in ``sandbox`` (default: one
    with no operating-system layer, as the self-check uses).  Never raises for anything the submission
    does: an error of the grading itself gives 0 points for this exercise with the error's type."""
    box = sandbox or Sandbox.create("none", unsafe=True)
    try:
        with box.slot() as user, tempfile.TemporaryDirectory(dir=box.root) as tmp:
            Path(tmp).chmod(0o711)
            return _grade(exercise, Path(submission_dir), cases, Path(tmp), box, user, solutions_dir=solutions_dir,
                          timeout=timeout, memory_mb=memory_mb)
    except Exception as exc:  # noqa: BLE001 - one exercise's failure must not take the others with it
        traceback.print_exc()
        return ExerciseResult(exercise, 0.0, exercise.points, f"could not be graded: the grader failed on this "
                              f"exercise ({type(exc).__name__}); ask your instructor")
    finally:
        if sandbox is None:
            box.close()


def _grade(exercise: Exercise, submission_dir: Path, cases: list[Case], tmp: Path, box: Sandbox, user, *,
           solutions_dir: Path | None, timeout: float, memory_mb: int) -> ExerciseResult:
    zero = ExerciseResult(exercise, 0.0, exercise.points, "", [])
    job_dir = tmp / "job"
    job_dir.mkdir(mode=0o755)
    refused = copy_submission(submission_dir, job_dir / "submission")
    if exercise.file in refused:
        zero.verdict = f"{exercise.file} was not graded: it is {refused[exercise.file]}; submit the file itself"
        return zero
    if not (job_dir / "submission" / exercise.file).is_file():
        zero.verdict = f"{exercise.file} not found in the submission"
        return zero
    helpers_first = sorted(refused.items(), key=lambda item: (item[0].startswith("ex"), item[0]))
    notes = "; ".join(f"{name} not copied ({why})" for name, why in helpers_first[:5])
    expected = expected_outputs(exercise, cases, solutions_dir)
    library, torch_names, blocked = _denials(exercise)
    stage_library(job_dir / "lib", library, source=box.library())
    jobs = [{"func": c.func, "args": c.args, "arg_names": exercise.functions[c.func]} for c in cases]
    write_job(job_dir, exercise=exercise.number, file=exercise.file, cases=jobs, timeout=timeout, memory_mb=memory_mb,
              preload=exercise.preload, rules=list(exercise.all_rules), box=box, user=user, blocked=blocked,
              torch_denied=torch_names)
    outcomes, info = run_cases(job_dir, len(cases), box, user, timeout=timeout)
    result = _verdict(exercise, cases, outcomes, expected, info)
    if notes:
        result.hint = "; ".join(filter(None, [result.hint, notes]))
    return result


def _verdict(exercise: Exercise, cases: list[Case], outcomes: list[Outcome], expected: list, info: dict):
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
    result.cases = [judge(exercise, c, o, e) for c, o, e in zip(cases, outcomes, expected, strict=True)]
    passed = sum(c.passed for c in result.cases)
    result.score = round(exercise.points * passed / len(cases), 2)
    if passed == len(cases):
        result.verdict = f"all {len(cases)} tests passed"
    elif all("not implemented yet" in c.message for c in result.cases):
        result.verdict = "not attempted (the stub still raises NotImplementedError)"
    else:
        result.verdict = f"{passed} of {len(cases)} tests passed"
        if info["problem"]:
            result.verdict += f" ({info['problem']})"
    counts = Counter(c.mistake for c in result.cases if c.mistake)
    if counts:
        name, n = counts.most_common(1)[0]
        failed = sum(not c.passed for c in result.cases)
        result.hint = f"{mistakes.HINTS[name]} (this mistake reproduces {n} of the {failed} failing tests)"
    elif passed < len(cases) and "not attempted" not in result.verdict:
        first = next(c for c in result.cases if not c.passed)
        result.hint = f"first failing test: {first.label}: {first.message}"
    return result
