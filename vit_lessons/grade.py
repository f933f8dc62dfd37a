"""Grade on the hidden tests: one submission (``--submission``) or a whole class (``--class``).

    python -m vit_lessons.grade [--submission DIR] [--results FILE] [--only NAME] [--timeout SECONDS]
                                [--jobs N] [--sandbox auto|none|user|bwrap|user,bwrap] [--unsafe-no-sandbox]
    python -m vit_lessons.grade --class SUBMISSIONS_DIR|CLASS.zip --out OUT_DIR [--jobs N] [--timeout SECONDS]

One submission: prints the sandbox layers in force and a table (exercise, points, verdict, hint) and
writes Gradescope's results.json to ``--results`` (the layers in its top-level ``output``).  A class: every
sub-folder of SUBMISSIONS_DIR (or of the zip) is one student's submission, named by the student's id;
writes ``OUT_DIR/grades.csv``, ``OUT_DIR/<student>/results.json`` (as grading that student alone writes it)
and ``OUT_DIR/report.html`` (see :mod:`vit_lessons.grading.classroom`).  Every learner's exercise runs in
its own limited process behind the layers available here (``vit_lessons/grading/isolation.py``): as root,
a dedicated unprivileged user and/or bubblewrap's namespaces; as root with neither, the grader refuses
unless ``--unsafe-no-sandbox``.  ``--sandbox`` (default: the environment variable ``VIT_LESSONS_SANDBOX``,
else "auto") names the layers that must be in force.  ``--jobs``: learner processes at a time (default:
the number of cores).
Exit status 0 whenever grading ran, whatever the score; 2 when the grader itself could not run (for one
submission a valid results.json with an "Autograder failed" entry is still written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .grading.grader import REPO, check_names, cores, grade, load_hidden, results_document, secrets, table
from .grading.gradescope import results_json, write_atomic
from .grading.registry import EXERCISES

__all__ = ["REPO", "grade", "load_hidden", "main", "secrets", "table"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vit_lessons.grade", description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, default=Path("exercises"), help="folder with exNN_*.py")
    parser.add_argument("--results", type=Path, default=None, help="where to write Gradescope's results.json")
    parser.add_argument("--class", dest="klass", type=Path, default=None, metavar="SUBMISSIONS",
                        help="grade a class: a folder (or .zip) of one sub-folder per student")
    parser.add_argument("--out", type=Path, default=None, help="with --class: where grades.csv, report.html and "
                                                               "each student's results.json go")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help=f"grade only this exercise (repeatable): {', '.join(EXERCISES)}")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (wall clock)")
    parser.add_argument("--memory", type=int, default=3072, help="address-space limit per learner process, MB")
    parser.add_argument("--solutions", type=Path, default=None, help="reference solutions to keep from the "
                                                                     "learner (default: solutions/)")
    parser.add_argument("--jobs", type=int, default=None, help="learner processes at a time (default: cores)")
    parser.add_argument("--sandbox", default=os.environ.get("VIT_LESSONS_SANDBOX", "auto"),
                        help="layers that must be in force: auto (all available), user, bwrap, user,bwrap, none")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="as root, grade even when no operating-system layer is available")
    parser.add_argument("--no-progress", action="store_true", help="with --class: no progress bar")
    return parser


def _grade_class(args) -> int:
    from .grading.classroom import grade_class

    if args.out is None:
        print("--class needs --out OUT_DIR", file=sys.stderr)
        return 2
    try:
        summary = grade_class(args.klass, args.out, jobs=args.jobs, timeout=args.timeout, memory_mb=args.memory,
                              sandbox=args.sandbox, unsafe=args.unsafe_no_sandbox, solutions=args.solutions,
                              only=args.only, progress=not args.no_progress)
    except Exception as exc:  # noqa: BLE001 - said plainly, exit status 2
        print(f"The class could not be graded: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()
        return 2
    print(summary)
    return 0


def safe_output() -> None:
    """Whatever the terminal's encoding (``LANG=C``, ``PYTHONIOENCODING=ascii``), printing a learner's text
    never fails: what it cannot encode is printed as escapes."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    safe_output()
    args = _parser().parse_args(argv)
    if args.klass is not None:
        return _grade_class(args)
    start = time.monotonic()
    box = None
    try:
        from .grading.sandbox import Sandbox

        if not args.submission.is_dir():
            raise ValueError(f"--submission {args.submission}: not a folder")
        if args.solutions is not None and not args.solutions.is_dir():
            raise ValueError(f"--solutions {args.solutions}: not a folder")
        load_hidden()
        names = check_names(args.only)
        jobs = args.jobs or cores()
        box = Sandbox.create(args.sandbox, unsafe=args.unsafe_no_sandbox, slots=max(1, jobs),
                             secrets=secrets(args.solutions))
        print(box.layers.describe())
        results = grade(args.submission.resolve(), only=names, timeout=args.timeout, memory_mb=args.memory,
                        jobs=jobs, sandbox=box)
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
    seconds = time.monotonic() - start
    if args.results:  # first: whatever happens to the printing, results.json is there
        write_atomic(args.results, results_document(results, seconds, box.layers))
    print(table(results))
    print(f"graded in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
