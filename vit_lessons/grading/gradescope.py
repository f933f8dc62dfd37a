"""Gradescope's results.json: one test entry per exercise, written atomically.

Fields as Gradescope's autograder specification defines them: top level ``score`` (the total),
``execution_time`` (seconds), ``output`` (text for the whole submission), ``visibility`` and
``stdout_visibility``; every test has ``name``, ``number``, ``score``, ``max_score``, ``status``
("passed"/"failed"), ``output`` and ``visibility``.  The bonus exercise adds to ``score``; set the
assignment's points to the total without it so that it counts as extra credit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .engine import ExerciseResult

MAX_OUTPUT = 8000


def test_output(result: ExerciseResult) -> str:
    """One exercise's feedback: verdict, hint, every test with the message of each failing one; within
    :data:`MAX_OUTPUT` characters, whole tests only ("(tests 31-32 not shown: ...)" for the rest)."""
    head = [result.verdict] + ([f"Hint: {result.hint}"] if result.hint else [])
    tail = ["(your code printed output while grading; it is not shown)"] if result.stdout.strip() else []
    tests = [f"  {'ok  ' if case.passed else 'FAIL'} test {i}: {case.label}" + ("" if case.passed else
             f"\n        {case.message}") for i, case in enumerate(result.cases, 1)]
    room = MAX_OUTPUT - len("\n".join(head + tail)) - 80  # the note on tests left out
    shown = 0
    while shown < len(tests) and room - len(tests[shown]) - 1 >= 0:
        room -= len(tests[shown]) + 1
        shown += 1
    if shown < len(tests):
        tests[shown:] = [f"(tests {shown + 1}-{len(tests)} not shown: the feedback's length limit)"]
    return "\n".join(head + tests + tail)[:MAX_OUTPUT]


def results_json(results: list[ExerciseResult], seconds: float, output: str = "", failure: str | None = None) -> dict:
    tests = [{"name": f"Exercise {r.exercise.title}", "number": str(r.exercise.number), "score": r.score,
              "max_score": r.max_score, "status": "passed" if r.passed else "failed", "output": test_output(r),
              "visibility": "visible"} for r in results]
    if failure is not None:
        tests.append({"name": "Autograder failed", "number": "0", "score": 0.0, "max_score": 0.0, "status": "failed",
                      "output": failure[:MAX_OUTPUT], "visibility": "visible"})
    return {"score": round(sum(t["score"] for t in tests), 2), "execution_time": round(seconds, 2),
            "output": output[:MAX_OUTPUT], "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def write_atomic(path: Path, data: dict) -> None:
    """Write JSON to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or (path.exists() and not path.is_file()):  # planted where the results go
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
