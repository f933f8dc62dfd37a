"""Hostile submissions are contained: graded, timed out or refused, and grading always finishes."""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from vit_lessons.grade import grade
from vit_lessons.grading import hidden
from vit_lessons.grading.engine import answers_for, submission_digest
from vit_lessons.grading.registry import EXERCISES

from .grading_helpers import REPO, SUBMISSIONS, assert_gradescope_schema, submission

TIMEOUT = 8.0  # the learner's process imports numpy, torch and the library within it, on a loaded machine too
SLACK = 15.0  # process start-up, the expected outputs, a loaded 2-core machine

# submission -> (expected score, text the feedback must contain)
CASES = {
    "infinite_loop": (0, "time limit"),
    "huge_allocation": (0, "memory"),
    "sys_exit": (0, "sys.exit"),
    "os_exit": (0, "process ended"),
    # refused by whichever layer stops it first: the in-process guard, the sandbox user's permissions, or
    # bubblewrap's view (where the repository lies, e.g. under /tmp, decides which)
    "read_outside": (0, ("not allowed while grading", "Permission denied", "No such file or directory")),
    "start_process": (0, "not allowed while grading: starting a program"),
    "monkeypatch_numpy": (0, "off by more than the tolerance"),
    "garbage": (0, "expected a numpy array"),
    "mutate_input": (0, "changed its input(s) image"),
    "junk_output": (10, f"all {len(hidden.cases('vit_forward'))} tests passed"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_submission_is_contained(tmp_path, name):
    folder = submission(tmp_path, SUBMISSIONS / "hostile" / f"{name}.py", SOLUTIONS=REPO / "solutions")
    start = time.monotonic()
    [result] = grade(folder, only=["vit_forward"], timeout=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + SLACK
    score, text = CASES[name]
    feedback = result.verdict + " " + result.hint + " " + " ".join(c.message for c in result.cases)
    assert result.score == score, feedback
    assert any(t in feedback for t in ((text,) if isinstance(text, str) else text)), feedback
    assert "Traceback" not in feedback and "vit_lessons/grading" not in feedback


def test_writing_the_results_file_is_refused_and_overwritten(tmp_path):
    results = tmp_path / "results" / "results.json"
    folder = submission(tmp_path, SUBMISSIONS / "hostile" / "write_results.py", RESULTS=results)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(folder), "--results",
                           str(results), "--only", "vit_forward", "--timeout", str(TIMEOUT)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert data["score"] == 0 and data["tests"][0]["status"] == "failed"
    assert not (folder / "results.json").exists() and not (tmp_path / "results.json").exists()


def test_junk_on_stdout_leaves_a_valid_results_json(tmp_path):
    results = tmp_path / "results.json"
    folder = submission(tmp_path, SUBMISSIONS / "hostile" / "junk_output.py")
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(folder), "--results",
                           str(results), "--only", "vit_forward"], cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode == 0
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert data["score"] == 10 and "junk" not in json.dumps(data)
    assert "not shown" in data["tests"][0]["output"]


def test_a_broken_grader_still_writes_results_json(tmp_path):
    results = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(REPO / "exercises"),
                           "--results", str(results), "--solutions", str(tmp_path / "missing")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert data["tests"][-1]["name"] == "Autograder failed"


def test_a_slow_import_is_told_apart_from_slow_earlier_tests(tmp_path):
    """The time limit reached while the learner's file is imported: no test has run, so none is said to
    have used the time up."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex06_pooling.py").write_text("import time\n\ntime.sleep(60)\n\n\ndef pool(x, mode, "
                                            "num_prefix_tokens=0):\n    return x[..., 0, :]\n")
    [result] = grade(folder, only=["pooling"], timeout=3)
    assert result.score == 0 and result.cases
    assert all("before the first test started" in c.message for c in result.cases), result.cases[0].message
    assert not any("earlier cases" in c.message for c in result.cases)


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LANG": "C", "LC_ALL": "C"}],
                         ids=["PYTHONIOENCODING=ascii", "LANG=C"])
def test_text_the_terminal_cannot_encode_never_stops_the_grader(tmp_path, env):
    """A learner's non-ASCII text (an error message, what it prints, an error on import) on a terminal that
    takes ASCII only: results.json is written first, and the table is printed with escapes, for a single
    submission and for a class."""
    import os

    from .grading_helpers import attack_folder, run_class_grader

    folder = attack_folder(tmp_path / "class", "nonascii")
    results = tmp_path / "results.json"
    only = ["--only", "pooling", "--only", "patchify", "--only", "patch_embedding"]
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(folder), "--results",
                           str(results), *only], cwd=REPO, capture_output=True, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert "Größe falsch – ✗" in data["output"] and "Modul fehlt: «numpy» ✗" in data["output"], data["output"]
    assert b"Gr\\xf6\\xdfe falsch" in proc.stdout or "Größe falsch".encode() in proc.stdout, proc.stdout[-2000:]
    proc, students = run_class_grader(tmp_path / "class", tmp_path / "out", *only, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Größe falsch – ✗" in students["nonascii"]["output"]


# ---- learning the hidden cases from one grading's feedback, to answer them in the next ---------------------------
FINGERPRINT = '''
import hashlib
import numpy as np


def fingerprint(args):
    """16 hex digits naming a case by its arguments."""
    h = hashlib.sha256()
    for a in args:
        h.update(repr((a.shape, str(a.dtype))).encode() + np.ascontiguousarray(a).tobytes()
                 if isinstance(a, np.ndarray) else repr(a).encode())
    return h.hexdigest()[:16]
'''
PROBE = FINGERPRINT + '''

def {func}(*args):
    raise RuntimeError("@@" + fingerprint(args) + "@@")
'''
LOOKUP = FINGERPRINT + '''
TABLE = {table!r}


def {func}(*args):
    key = fingerprint(args)
    if key not in TABLE:
        raise ValueError("a case this table does not know")
    data, dtype, shape = TABLE[key]
    return np.frombuffer(bytes.fromhex(data), dtype).reshape(shape).copy()
'''
FORWARDER = "from {helper} import {func}  # noqa: F401\n"


def _fingerprints(result) -> set[str]:
    return {m for c in result.cases for m in re.findall(r"@@([0-9a-f]{16})@@", c.message)}


@pytest.mark.parametrize("exercise, func, helper",
                         [("vit_forward", "vit_forward", None), ("pooling", "pool", "answers")],
                         ids=["exercise-file", "helper-module"])
def test_what_one_grading_shows_of_its_hidden_cases_is_no_use_to_the_next(tmp_path, exercise, func, helper):
    """A probe writes each hidden case's fingerprint into its error messages, which the feedback shows; the
    attacker then answers those very cases from a table (here: the oracle's own outputs, a perfect
    exfiltration).  The next grading draws other cases for the changed files, so the table scores nothing,
    whether the table is in the exercise file or in a helper module the unchanged exercise file imports."""
    ex = EXERCISES[exercise]

    def folder(name, code):
        path = tmp_path / name
        path.mkdir()
        if helper:
            (path / ex.file).write_text(FORWARDER.format(helper=helper, func=func))
            (path / f"{helper}.py").write_text(code)
        else:
            (path / ex.file).write_text(code)
        return path

    probe = folder("probe", PROBE.format(func=func))
    [seen] = grade(probe, only=[exercise], timeout=TIMEOUT)
    cases = hidden.cases(exercise, submission_digest(probe))
    scope: dict = {}
    exec(FINGERPRINT, scope)  # noqa: S102 - the fingerprint the probe computes, here in the test
    valid = [(scope["fingerprint"](c.args), out) for c, out in
             zip(cases, answers_for(ex, "hidden", hidden.cases, submission_digest(probe)).expected(), strict=True)
             if not c.expect_error]
    assert {key for key, _ in valid} <= _fingerprints(seen) and seen.score == 0  # the exfiltration is real
    table = {key: (np.asarray(out).tobytes().hex(), str(np.asarray(out).dtype), np.asarray(out).shape)
             for key, out in valid}
    [answered] = grade(folder("lookup", LOOKUP.format(func=func, table=table)), only=[exercise], timeout=TIMEOUT)
    assert answered.score == 0, answered.verdict
    assert all(c.message.startswith("raised ValueError") or "should raise" in c.message or "raises" in c.message
               for c in answered.cases), [c.message for c in answered.cases]
    [again] = grade(probe, only=[exercise], timeout=TIMEOUT)
    assert _fingerprints(again) == _fingerprints(seen)  # the same files: the same cases, the same grade
