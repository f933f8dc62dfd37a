"""Grading one submission on the hidden cases: what ``python -m vit_lessons.grade --submission`` runs, and
what ``--class`` runs for every student.

:func:`grade` returns one :class:`~vit_lessons.grading.engine.ExerciseResult` per exercise;
:func:`results_document` is Gradescope's results.json for them (the same for a submission graded alone
and within a class, but for the timing field).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .gradescope import results_json
from .registry import EXERCISES

REPO = Path(__file__).resolve().parents[2]


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: the most learner processes at a time: 4 per core (more only share the cores, and every exercise's wall-clock
#: time limit with them: honest work would run out of time), and never more than 32 (one sandbox user each,
#: created on the machine when missing)
JOBS_PER_CORE, JOBS_CEILING = 4, 32
#: the longest time limit per exercise, seconds (a day)
MAX_TIMEOUT = 86_400.0


def max_jobs() -> int:
    """The most learner processes at a time on this machine."""
    return min(JOBS_CEILING, JOBS_PER_CORE * cores())


class SettingsParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors for a :func:`setting` read "--timeout 0: expected ...", not "argument
    --timeout: --timeout 0: ..."."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {re.sub(r'^argument [^:]+: (?=--)', '', message)}\n")


def setting(flag: str, parse, why_not):
    """The argparse type of ``flag``: the text read by ``parse`` (int or float), refused with what ``why_not``
    says of it ("--timeout 0: expected a number of seconds > 0 ...")."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = None  # why_not says what was expected
        problem = why_not(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{flag} {text}: {problem}")
        return value

    return convert


def why_not_jobs(jobs) -> str | None:
    """Why ``jobs`` is no number of learner processes at a time (None when it is one; 0 means one per core)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 0 <= jobs <= max_jobs():
        return (f"expected a whole number from 1 to {max_jobs()} (at most {JOBS_PER_CORE} per core on this "
                f"machine's {cores()} cores and never more than {JOBS_CEILING}), or 0 for one per core")
    return None


def why_not_timeout(seconds) -> str | None:
    """Why ``seconds`` is no time limit per exercise (None when it is one)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 0 < seconds <= MAX_TIMEOUT:
        return f"expected a number of seconds > 0 and at most {MAX_TIMEOUT:g}"
    return None


def why_not_memory(megabytes) -> str | None:
    """Why ``megabytes`` is no memory limit per learner process (None when it is one)."""
    if isinstance(megabytes, bool) or not isinstance(megabytes, int) or megabytes <= 0:
        return "expected a whole number of megabytes > 0"
    return None


def check_settings(*, timeout, memory_mb, jobs) -> int:
    """ValueError naming the argument when a setting is out of range; returns the jobs to run (0 or None:
    one per core)."""
    for name, value, why in (("timeout", timeout, why_not_timeout), ("memory_mb", memory_mb, why_not_memory),
                             ("jobs", 0 if jobs is None else jobs, why_not_jobs)):
        problem = why(value)
        if problem:
            raise ValueError(f"{name}={value!r}: {problem}")
    return jobs or cores()


def load_hidden():
    """The hidden tests' module; RuntimeError in a learner's bundle, which has none."""
    try:
        from . import hidden
    except ImportError as exc:
        raise RuntimeError("the hidden tests are not part of this copy (a learner's bundle): only the "
                           "self-check `python -m vit_lessons.grading check NAME` works here") from exc
    return hidden


def secrets(solutions: Path | None = None, *more: Path) -> list[Path]:
    """What the learner's process must never read: the solutions, the grader's library (hidden tests,
    the oracle), the repository around it with its git objects (unless the Python installation lives
    inside it), and ``more`` (a class's other submissions and results)."""
    from .sandbox import python_roots
    from .staging import LIBRARY_DIR

    paths = [Path(solutions or REPO / "solutions").resolve(), LIBRARY_DIR / "grading", LIBRARY_DIR,
             *(Path(p).resolve() for p in more)]
    repo = LIBRARY_DIR.parent
    if ((repo / ".git").exists() or (repo / "solutions").is_dir()) and \
            not any(r == repo or repo in r.parents for r in python_roots()):
        paths.append(repo)
    return paths


def check_names(only: list[str] | None) -> list[str]:
    names = only or list(EXERCISES)
    for name in names:
        if name not in EXERCISES:
            raise ValueError(f"--only {name!r}: expected one of {', '.join(EXERCISES)}")
    return names


def grade(submission: Path, *, only: list[str] | None = None, timeout: float = 60.0, memory_mb: int = 3072,
          solutions: Path | None = None, jobs: int | None = None, sandbox=None, unsafe: bool = False):
    """Grade ``submission`` on the hidden tests; returns the list of ExerciseResult, in exercise order.

    ``jobs``: exercises graded at the same time (default: the number of cores).  ``sandbox``: a
    :class:`vit_lessons.grading.sandbox.Sandbox`, or the layers to require ("auto", "none", "user", "bwrap",
    "user,bwrap"; default ``VIT_LESSONS_SANDBOX`` or "auto").  ``solutions``: the reference solutions to
    keep from the learner's process (default: the repository's ``solutions/``); the expected outputs
    come from the oracle, not from them.
    """
    hidden = load_hidden()
    from .engine import answers_for, grade_exercise
    from .sandbox import Sandbox

    if solutions is not None and not Path(solutions).is_dir():
        raise ValueError(f"solutions={solutions}: not a folder")
    names = check_names(only)
    jobs = check_settings(timeout=timeout, memory_mb=memory_mb, jobs=jobs)
    box = sandbox if isinstance(sandbox, Sandbox) else Sandbox.create(
        sandbox or os.environ.get("VIT_LESSONS_SANDBOX", "auto"), unsafe=unsafe, slots=max(1, jobs),
        secrets=secrets(solutions))

    def one(name):
        ex = EXERCISES[name]
        return grade_exercise(ex, submission, lambda digest: answers_for(ex, "hidden", hidden.cases, digest),
                              timeout=timeout, memory_mb=memory_mb, sandbox=box)

    try:
        if jobs == 1:
            return [one(name) for name in names]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(one, names))
    finally:
        if box is not sandbox:
            box.close()


def table(results) -> str:
    """The results as a text table (exercise, points, verdict, hint) with the total."""
    rows = [("exercise", "points", "verdict", "hint")]
    for r in results:
        rows.append((r.exercise.title, f"{r.score:g}/{r.max_score:g}", r.verdict, r.hint or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in rows]
    total = sum(r.score for r in results)
    possible = sum(r.max_score for r in results if not r.exercise.bonus)
    lines.append(f"total {total:g} of {possible:g} (+ bonus)")
    return "\n".join(lines)


def results_document(results, seconds: float, layers) -> dict:
    """Gradescope's results.json for ``results``, with the sandbox ``layers`` and the table in its output."""
    return results_json(results, seconds, output=layers.describe(changes=False) + "\n\n" + table(results))
