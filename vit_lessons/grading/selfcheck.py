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
from .registry import exercise, find_submission, public_cases

NOT_A_BOUNDARY = ("(The self-check runs your code in a separate process with time and memory limits: not a security "
                  "boundary. The grader also runs it as another user, inside bubblewrap.)")


def run_check(name: str, submission: str | Path | None = None, timeout: float = 60.0) -> ExerciseResult:
    """The public tests of exercise ``name`` on the learner's file; returns the detailed result."""
    ex = exercise(name)
    folder = Path(submission) if submission is not None else find_submission()
    return grade_exercise(ex, folder, answers_for(ex, "public", public_cases), timeout=timeout)


def check(name: str, submission: str | Path | None = None, timeout: float = 60.0) -> bool:
    """Run the public tests of exercise ``name`` and print a friendly verdict; True when all pass.

    name: one of "patchify", "patch_embedding", "positional_embedding", "attention", "encoder_block",
    "pooling", "vit_forward", "vit_forward_cls", "rollout", "block_backward".
    submission: the folder holding ``exNN_name.py`` (default: ``exercises/`` of the repository).
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
    if result.stdout.strip() and not result.passed:
        print("Your code printed:\n" + "\n".join(result.stdout.strip().splitlines()[:20]))
    print(NOT_A_BOUNDARY)
    return result.passed
