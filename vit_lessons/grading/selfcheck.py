"""The learner's self-check: the public tests (the worked examples) of one exercise, with a short verdict.

    from vit_lessons.grading import check
    check("vit_forward")                      # from a notebook cell
    python -m vit_lessons.grading check vit_forward   # from the shell

The learner's code runs in a separate process with time and memory limits, from the same copy of the
files and against the same library (its forbidden functions replaced by ones that raise) as in the grader,
so a forbidden call fails here as it would there, and an endless loop does not hang the notebook.  This is
not a security boundary: the self-check runs as the learner, with no other user and no namespaces (the
grader adds both).  The public cases are draws of the same generators as the grader's hidden cases (the
same kinds of case, other values), and the expected values come from the same oracle.
"""

from __future__ import annotations

from pathlib import Path

from .engine import ExerciseResult, answers_for, grade_exercise
from .grader import why_not_timeout
from .registry import exercise, find_submission, graded_case_count, public_cases

#: what a case's or the exercise's message says when the time limit cut it short
TIME_OUT = "time limit"
NOT_A_BOUNDARY = ("(The self-check runs your code in a separate process with time and memory limits: not a security "
                  "boundary. The grader also runs it as another user, inside bubblewrap.)")


#: how many lines of what the learner's code printed the self-check shows
SHOWN_LINES = 20


def printed(stdout: str) -> str:
    """What the learner's code printed, as the self-check shows it: its first :data:`SHOWN_LINES` lines,
    saying so when there were more."""
    lines = stdout.strip().splitlines()
    cut = f" (first {SHOWN_LINES} of {len(lines)} lines)" if len(lines) > SHOWN_LINES else ""
    return f"Your code printed{cut}:\n" + "\n".join(lines[:SHOWN_LINES])


def time_budget(name: str, timeout: float) -> float:
    """The self-check's time limit for exercise ``name``: the share of the grader's ``timeout`` (for all its
    cases together) that its public cases would have there, so that code fast enough here is fast enough in
    the grader, which runs more cases of the same kinds within its limit."""
    answers = answers_for(exercise(name), "public", public_cases)
    return timeout * len(answers.cases) / graded_case_count(name)


def submission_folder(name: str, submission: str | Path | None = None) -> Path:
    """The folder the self-check of exercise ``name`` reads: ``submission``, or (None) the one
    :func:`~vit_lessons.grading.registry.find_submission` finds.  A path to the exercise's own file
    (``.../ex06_pooling.py``) means its folder.  FileNotFoundError saying which path was tried and what to
    pass instead."""
    file = exercise(name).file
    if submission is None:
        return find_submission(file=file)
    path = Path(submission).expanduser()
    if path.is_file() and path.name == file:
        return path.parent
    if path.is_dir():
        return path
    shown = f"submission={str(submission)!r}"
    if path.exists():
        raise FileNotFoundError(f"{shown} is a file, not a folder: pass the folder that holds {file} (or the path "
                                f"of {file} itself)")
    where = f" (from {Path.cwd()})" if not path.is_absolute() else ""
    raise FileNotFoundError(f"{shown}: no such folder{where}: pass the folder that holds {file}, e.g. "
                            f"submission='exercises'")


def run_check(name: str, submission: str | Path | None = None, timeout: float = 60.0) -> ExerciseResult:
    """The public tests of exercise ``name`` on the learner's file, within their share of the grader's time
    limit ``timeout`` (:func:`time_budget`); returns the detailed result (0 points, with a verdict saying
    why, when there is no submission folder to read: :func:`submission_folder`)."""
    ex = exercise(name)
    problem = why_not_timeout(timeout)
    if problem:
        raise ValueError(f"timeout={timeout!r}: {problem}")
    try:
        folder = submission_folder(name, submission)
    except FileNotFoundError as exc:
        return ExerciseResult(ex, 0.0, ex.points, f"could not be checked: {exc}")
    return grade_exercise(ex, folder, answers_for(ex, "public", public_cases), timeout=time_budget(name, timeout))


def check(name: str, submission: str | Path | None = None, timeout: float = 60.0) -> bool:
    """Run the public tests of exercise ``name`` and print a friendly verdict; True when all pass.

    name: one of "patchify", "patch_embedding", "positional_embedding", "attention", "encoder_block",
    "pooling", "vit_forward", "vit_forward_cls", "rollout", "block_backward".
    submission: the folder holding ``exNN_name.py``, or that file's own path (default: the ``exercises/``
    folder of the current directory or of a parent, else the current directory when it holds exercise
    files, else ``exercises/`` beside an editable install of the library).
    timeout: the grader's time limit for the exercise, in seconds (the self-check's public tests get their
    share of it, :func:`time_budget`).
    """
    result = run_check(name, submission, timeout)
    ex = result.exercise
    if result.passed:
        print(f"Exercise {ex.title}: all {len(result.cases)} public tests pass. Well done! "
              f"The grader's hidden tests are the same kinds of case with other values.")
    elif not result.cases:
        print(f"Exercise {ex.title}: {result.verdict}.")
    elif "not attempted" in result.verdict:
        print(f"Exercise {ex.title}: not started yet: fill in the function(s) in {ex.file}.")
    else:
        print(f"Exercise {ex.title}: {result.verdict}.")
        for case in result.cases:
            print(f"  {'ok  ' if case.passed else 'FAIL'} "
                  f"{case.label}: {case.message}")
    if result.hint:
        print(f"Hint: {result.hint}")
    if any(TIME_OUT in case.message for case in result.cases) or TIME_OUT in result.verdict:
        print(f"Time: the self-check gives its {len(result.cases)} public tests {time_budget(name, timeout):.0f} s, "
              f"their share of the grader's {timeout:g} s for its {graded_case_count(name)} tests of the same "
              f"kinds: make your code faster (a Python loop over pixels, tokens or heads?).")
    if result.stdout.strip() and not result.passed:
        print(printed(result.stdout))
    print(NOT_A_BOUNDARY)
    return result.passed
