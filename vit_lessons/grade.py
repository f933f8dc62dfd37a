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
the number of cores; 0 is the same; at most 4 per core and never more than 32).
Exit status 0 whenever grading ran, whatever the score; 2 when the grader itself could not run (for one
submission a valid results.json with an "Autograder failed" entry is still written); with ``--class``, 1
when a student could not be graded (the grader failed: the next run grades them again) and 130 when
interrupted (Ctrl-C: grades.csv and report.html are written for the students graded so far, and the same
command goes on from there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .grading.grader import (
    JOBS_CEILING,
    JOBS_PER_CORE,
    MAX_TIMEOUT,
    REPO,
    SettingsParser,
    check_names,
    cores,
    grade,
    load_hidden,
    max_jobs,
    results_document,
    secrets,
    setting,
    table,
    why_not_jobs,
    why_not_memory,
    why_not_timeout,
)
from .grading.gradescope import results_json, write_atomic
from .grading.isolation import SandboxUnavailable
from .grading.registry import EXERCISES

__all__ = ["REPO", "grade", "load_hidden", "main", "secrets", "table"]


def _parser() -> argparse.ArgumentParser:
    parser = SettingsParser(prog="python -m vit_lessons.grade", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--submission", type=Path, default=Path("exercises"), help="folder with exNN_*.py")
    parser.add_argument("--results", type=Path, default=None, help="where to write Gradescope's results.json")
    what.add_argument("--class", dest="klass", type=Path, default=None, metavar="SUBMISSIONS",
                      help="grade a class: a folder (or .zip) of one sub-folder per student")
    parser.add_argument("--out", type=Path, default=None, help="with --class: where grades.csv, report.html and "
                                                               "each student's results.json go (outside SUBMISSIONS)")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help=f"grade only this exercise (repeatable): {', '.join(EXERCISES)}")
    parser.add_argument("--timeout", type=setting("--timeout", float, why_not_timeout), default=60.0,
                        help=f"seconds per exercise (wall clock; > 0, at most {MAX_TIMEOUT:g})")
    parser.add_argument("--memory", type=setting("--memory", int, why_not_memory), default=3072,
                        help="address-space limit per learner process, MB (> 0)")
    parser.add_argument("--solutions", type=Path, default=None, help="reference solutions to keep from the "
                                                                     "learner (default: solutions/)")
    parser.add_argument("--jobs", type=setting("--jobs", int, why_not_jobs), default=None,
                        help=f"learner processes at a time (default or 0: one per core; at most {JOBS_PER_CORE} "
                             f"per core and {JOBS_CEILING} in all: {max_jobs()} here)")
    parser.add_argument("--sandbox", default=os.environ.get("VIT_LESSONS_SANDBOX", "auto"),
                        help="layers that must be in force: auto (all available), user, bwrap, user,bwrap, none")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="as root, grade even when no operating-system layer is available")
    parser.add_argument("--no-progress", action="store_true", help="with --class: no progress bar")
    return parser


#: errors of the operator's (a path, a setting, a missing layer): said in one line, without a traceback
OPERATOR_ERRORS = (ValueError, OSError, SandboxUnavailable)
INTERRUPTED = 130


def _say(what: str, exc: BaseException) -> str:
    """The error said on stderr: one line for the operator's mistakes, with the traceback for the grader's."""
    message = f"{what}: {type(exc).__name__}: {exc}"
    print(message, file=sys.stderr)
    if not isinstance(exc, OPERATOR_ERRORS):
        traceback.print_exc()
    return message


def _grade_class(args) -> int:
    from .grading.classroom import grade_class

    if args.out is None:
        print("--class needs --out OUT_DIR", file=sys.stderr)
        return 2
    try:
        summary = grade_class(args.klass, args.out, jobs=args.jobs, timeout=args.timeout, memory_mb=args.memory,
                              sandbox=args.sandbox, unsafe=args.unsafe_no_sandbox, solutions=args.solutions,
                              only=args.only, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted before any student was graded; run the same command again to go on", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - said plainly, exit status 2
        _say("The class could not be graded", exc)
        return 2
    print(summary)
    return summary.exit_status


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
            raise ValueError(f"--submission {args.submission}: not a folder (grade a folder with --submission "
                             f"DIR, a class with --class SUBMISSIONS --out OUT_DIR)")
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
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - always leave a valid results.json behind
        message = _say("The autograder could not grade this submission", exc)
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
