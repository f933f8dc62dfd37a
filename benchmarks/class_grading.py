"""Grading a class: 100 complete submissions (all ten exercises) with ``--class``, against the target of
10 minutes on 2 cores, and side by side with grading one submission alone.

    python benchmarks/class_grading.py [--students 100] [--jobs 2]      # as root: the sandbox layers in force

The class is generated: every student hands in the reference solutions, and every other student has one
realistic mistake in one exercise (the learners of ``tests/submissions/learners/``), so that the hints and
the report are computed as for a real class.  Printed: the class's wall-clock time and its time per
student; the time of one complete submission graded alone (``jobs`` exercises at a time, as a single run
grades), measured before and after the class (so that a changing load shows); the ratio of the class's
time per student to grading alone; the resumed run's time (nothing regraded); the target's margin.
"""

import argparse
import ast
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vit_lessons.grade import REPO, grade, secrets  # noqa: E402
from vit_lessons.grading.classroom import grade_class  # noqa: E402
from vit_lessons.grading.registry import EXERCISES  # noqa: E402
from vit_lessons.grading.sandbox import Sandbox  # noqa: E402

TARGET_SECONDS = 600.0
LEARNERS = REPO / "tests" / "submissions" / "learners"
#: (exercise, the learner module, its mistake) handed in by every other student, in turn
MISTAKES = [("encoder_block", "learner_encoder_block", "tanh_gelu"), ("pooling", "learner_pooling", "cls_in_mean"),
            ("attention", "learner_attention", "scale_by_heads"),
            ("patch_embedding", "learner_patch_embedding", "stride_one"),
            ("encoder_block", "learner_encoder_block", "ln_eps_outside_sqrt")]


def make_class(root: Path, students: int) -> None:
    for n in range(students):
        folder = root / f"student{n:03d}"
        folder.mkdir(parents=True)
        for path in (REPO / "solutions").glob("ex*.py"):
            shutil.copy(path, folder / path.name)
        if n % 2:
            name, module, mistake = MISTAKES[(n // 2) % len(MISTAKES)]
            shutil.copy(LEARNERS / f"{module}.py", folder / f"{module}.py")
            body = f"_f = build({mistake!r})\n" + "".join(f"{f} = _f[{f!r}]\n" for f in EXERCISES[name].functions)
            (folder / EXERCISES[name].file).write_text(f"from {module} import build\n\n{body}")


def alone(jobs: int) -> float:
    """Seconds to grade the complete reference solution as one run does (its own sandbox)."""
    start = time.perf_counter()
    box = Sandbox.create("auto", slots=jobs, secrets=secrets())
    try:
        results = grade(REPO / "solutions", sandbox=box, jobs=jobs)
    finally:
        box.close()
    assert all(r.passed for r in results), [r.verdict for r in results if not r.passed]
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="class_bench_") as tmp:
        root, out = Path(tmp) / "class", Path(tmp) / "out"
        make_class(root, args.students)
        before = alone(args.jobs)
        start = time.perf_counter()
        summary = grade_class(root, out, jobs=args.jobs, progress=False)
        seconds = time.perf_counter() - start
        wrong = misgraded(out / "grades.csv")
        after = alone(args.jobs)
        start = time.perf_counter()
        resumed = grade_class(root, out, jobs=args.jobs, progress=False)
        again = time.perf_counter() - start
    per_student, single = seconds / args.students, (before + after) / 2
    projected = per_student * 100
    print(summary)
    print(resumed)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"class of {args.students}, --jobs {args.jobs}: {seconds:.1f} s, {per_student:.2f} s per student")
    print(f"one complete submission alone: {before:.2f} s before the class, {after:.2f} s after")
    print(f"class time per student / grading alone: {per_student / single:.2f}")
    print(f"resumed run (nothing regraded): {again:.1f} s")
    print(f"100 students: {projected:.0f} s, {projected / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:.0f} s target")
    print(f"students graded otherwise than their files deserve: {len(wrong)}" + (f" {wrong[:5]}" if wrong else ""))
    return 1 if wrong else 0


def imported(path: Path) -> set[str]:
    """The modules the file ``path`` imports (at its top level or inside functions)."""
    tree = ast.parse(path.read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def misgraded(grades_csv: Path) -> list[str]:
    """The students of :func:`make_class` whose row is not what their files deserve: full marks everywhere,
    but less than full in the exercise of a student's mistake and in those whose solutions import its file
    (exercises 7 and 8 build on the learner's own exercise 5)."""
    rows = list(csv.DictReader(grades_csv.open()))
    wrong = []
    for row in rows:
        n = int(row["student"].removeprefix("student"))
        faulty = MISTAKES[(n // 2) % len(MISTAKES)][0] if n % 2 else None
        failing = {faulty} | {name for name, ex in EXERCISES.items()
                              if faulty and Path(EXERCISES[faulty].file).stem in imported(REPO / "solutions" / ex.file)}
        for name, ex in EXERCISES.items():
            column = next(c for c in row if c.startswith(f"{ex.number:02d}"))
            full = float(row[column]) == ex.points
            if full == (name in failing):
                wrong.append(f"{row['student']} {column}={row[column]}")
    return wrong


if __name__ == "__main__":
    sys.exit(main())
