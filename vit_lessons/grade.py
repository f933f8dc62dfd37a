"""Grade a submission folder on the hidden tests: ``python -m vit_lessons.grade``.

    python -m vit_lessons.grade [--submission DIR] [--results FILE] [--only NAME] [--timeout SECONDS]
                                [--sandbox auto|none|user|bwrap|user,bwrap] [--unsafe-no-sandbox]

Prints the sandbox layers in force and a table (exercise, points, verdict, hint) and writes Gradescope's
results.json to ``--results`` (the layers in its top-level ``output``).  Every learner's exercise runs in its
own limited process behind the layers available here (``vit_lessons/grading/isolation.py``): as root, a
dedicated unprivileged user and/or bubblewrap's namespaces; as root with neither, the grader refuses unless
``--unsafe-no-sandbox``.  ``--sandbox`` (default: the environment variable ``VIT_LESSONS_SANDBOX``, else
"auto") names the layers that must be in force.
Exit status 0 whenever grading ran, whatever the score; 2 when the grader itself could not run (a valid
results.json with an "Autograder failed" entry is still written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .grading.gradescope import results_json, write_atomic
from .grading.spec import EXERCISES

REPO = Path(__file__).resolve().parent.parent


def load_hidden():
    """The hidden tests' module; RuntimeError in a learner's bundle, which has none."""
    try:
        from .grading import hidden
    except ImportError as exc:
        raise RuntimeError("the hidden tests are not part of this copy (a learner's bundle): only the "
                           "self-check `python -m vit_lessons.grading check NAME` works here") from exc
    return hidden


def secrets(solutions: Path) -> list[Path]:
    """What the learner's process must never read: the solutions, the grader's library (hidden tests,
    reference computations) and the repository around it with its git objects (unless the Python
    installation lives inside it)."""
    from .grading.sandbox import python_roots
    from .grading.staging import LIBRARY_DIR

    paths = [Path(solutions).resolve(), LIBRARY_DIR / "grading", LIBRARY_DIR]
    repo = LIBRARY_DIR.parent
    if ((repo / ".git").exists() or (repo / "solutions").is_dir()) and \
            not any(r == repo or repo in r.parents for r in python_roots()):
        paths.append(repo)
    return paths


def grade(submission: Path, *, only: list[str] | None = None, timeout: float = 60.0, memory_mb: int = 3072,
          solutions: Path | None = None, jobs: int = 2, sandbox=None, unsafe: bool = False):
    """Grade ``submission`` on the hidden tests; returns the list of ExerciseResult, in exercise order.

    ``sandbox``: a :class:`vit_lessons.grading.sandbox.Sandbox`, or the layers to require ("auto", "none",
    "user", "bwrap", "user,bwrap"; default ``VIT_LESSONS_SANDBOX`` or "auto").
    """
    hidden = load_hidden()
    from .grading.engine import grade_exercise
    from .grading.sandbox import Sandbox

    solutions = Path(solutions or REPO / "solutions")
    if not solutions.is_dir():
        raise RuntimeError(f"solutions folder {solutions} not found: the grader computes the expected outputs "
                           f"from the reference solutions")
    names = only or list(EXERCISES)
    for name in names:
        if name not in EXERCISES:
            raise ValueError(f"--only {name!r}: expected one of {', '.join(EXERCISES)}")
    box = sandbox if isinstance(sandbox, Sandbox) else Sandbox.create(
        sandbox or os.environ.get("VIT_LESSONS_SANDBOX", "auto"), unsafe=unsafe, slots=max(1, jobs),
        secrets=secrets(solutions))

    def one(name):
        return grade_exercise(EXERCISES[name], submission, hidden.cases(name), solutions_dir=solutions,
                              timeout=timeout, memory_mb=memory_mb, sandbox=box)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, names))
    finally:
        if box is not sandbox:
            box.close()


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
    parser.add_argument("--sandbox", default=os.environ.get("VIT_LESSONS_SANDBOX", "auto"),
                        help="layers that must be in force: auto (all available), user, bwrap, user,bwrap, none")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="as root, grade even when no operating-system layer is available")
    args = parser.parse_args(argv)
    start = time.monotonic()
    box = None
    try:
        from .grading.sandbox import Sandbox

        if not args.submission.is_dir():
            raise ValueError(f"--submission {args.submission}: not a folder")
        load_hidden()
        solutions = Path(args.solutions or REPO / "solutions")
        box = Sandbox.create(args.sandbox, unsafe=args.unsafe_no_sandbox, slots=max(1, args.jobs),
                             secrets=secrets(solutions))
        print(box.layers.describe())
        results = grade(args.submission.resolve(), only=args.only, timeout=args.timeout, memory_mb=args.memory,
                        solutions=solutions, jobs=args.jobs, sandbox=box)
    except Exception as exc:  # noqa: BLE001 - always leave a valid results.json behind
        message = f"The autograder could not grade this submission: {type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)
        traceback.print_exc()
        if args.results:
            write_atomic(args.results, results_json([], time.monotonic() - start, failure=message))
        return 2
    finally:
        if box is not None:
            box.close()
    text = table(results)
    print(text)
    seconds = time.monotonic() - start
    print(f"graded in {seconds:.1f} s")
    if args.results:
        output = box.layers.describe(changes=False) + "\n\n" + text
        write_atomic(args.results, results_json(results, seconds, output=output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
