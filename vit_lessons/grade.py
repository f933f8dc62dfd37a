"""Grade a submission folder on the hidden tests: ``python -m vit_lessons.grade``.

    python -m vit_lessons.grade [--submission DIR] [--results FILE] [--only NAME] [--timeout SECONDS]

Prints a table (exercise, points, verdict, hint) and writes Gradescope's results.json to ``--results``.
Every learner's exercise runs in its own limited process (see ``vit_lessons/grading/sandbox.py``).
Exit status 0 whenever grading ran, whatever the score; 2 when the grader itself could not run (a valid
results.json with an "Autograder failed" entry is still written).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grading.gradescope import results_json, write_atomic
from .grading.spec import EXERCISES

REPO = Path(__file__).resolve().parent.parent


def grade(submission: Path, *, only: list[str] | None = None, timeout: float = 60.0, memory_mb: int = 3072,
          solutions: Path | None = None, jobs: int = 2):
    """Grade ``submission`` on the hidden tests; returns the list of ExerciseResult, in exercise order."""
    try:
        from .grading import hidden
    except ImportError as exc:
        raise RuntimeError("the hidden tests are not part of this copy (a learner's bundle): only the "
                           "self-check `python -m vit_lessons.grading check NAME` works here") from exc
    from .grading.engine import grade_exercise

    solutions = Path(solutions or REPO / "solutions")
    if not solutions.is_dir():
        raise RuntimeError(f"solutions folder {solutions} not found: the grader computes the expected outputs "
                           f"from the reference solutions")
    names = only or list(EXERCISES)
    for name in names:
        if name not in EXERCISES:
            raise ValueError(f"--only {name!r}: expected one of {', '.join(EXERCISES)}")

    def one(name):
        return grade_exercise(EXERCISES[name], submission, hidden.cases(name), solutions_dir=solutions,
                              timeout=timeout, memory_mb=memory_mb)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, names))


def table(results) -> str:
    rows = [("exercise", "points", "verdict", "hint")]
    for r in results:
        rows.append((r.exercise.title, f"{r.score:g}/{r.max_score:g}", r.verdict, r.hint or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in rows]
    total = sum(r.score for r in results)
    possible = sum(r.max_score for r in results if not r.exercise.bonus)
    lines.append(f"total {total:g} of {possible:g} (+ bonus)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vit_lessons.grade", description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=Path("exercises"), help="folder with exNN_*.py")
    parser.add_argument("--results", type=Path, default=None, help="where to write Gradescope's results.json")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help=f"grade only this exercise (repeatable): {', '.join(EXERCISES)}")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (wall clock)")
    parser.add_argument("--memory", type=int, default=3072, help="address-space limit per learner process, MB")
    parser.add_argument("--solutions", type=Path, default=None, help="reference solutions (default: solutions/)")
    parser.add_argument("--jobs", type=int, default=2, help="exercises graded at the same time")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        if not args.submission.is_dir():
            raise ValueError(f"--submission {args.submission}: not a folder")
        results = grade(args.submission.resolve(), only=args.only, timeout=args.timeout, memory_mb=args.memory,
                        solutions=args.solutions, jobs=args.jobs)
    except Exception as exc:  # noqa: BLE001 - always leave a valid results.json behind
        message = f"The autograder could not grade this submission: {type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)
        traceback.print_exc()
        if args.results:
            write_atomic(args.results, results_json([], time.monotonic() - start, failure=message))
        return 2
    text = table(results)
    print(text)
    seconds = time.monotonic() - start
    print(f"graded in {seconds:.1f} s")
    if args.results:
        write_atomic(args.results, results_json(results, seconds, output=text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
