"""Learner code cannot fool the grader: attacks written as submissions, graded behind each sandbox layer.

Every attack folder (``tests/submissions/attacks/``) is graded in one grader run per layer combination
(the unprivileged user, bubblewrap, both; ``.ci/run`` requires all three).  For each run: exit status 0
and a valid results.json; no points not earned; no text of the solutions or the hidden tests anywhere in
results.json; no learner process left once the grader has exited; results.json unchanged a few seconds
later; the grader's own memory bounded.
"""

import json
import time
import uuid

import pytest

from vit_lessons.grading import hidden
from vit_lessons.grading.staging import LIBRARY_DIR

from .grading_helpers import (
    REPO,
    assert_gradescope_schema,
    attack_folder,
    layer_params,
    processes_with,
    run_grader,
    secret_texts,
)

TIMEOUT = "8"
GRADER_MB = 400  # the grader's own peak memory: its library, the expected outputs, at most 64 MB read back
LAYER_PARAMS = layer_params()


def graded(tmp_path, name, layers, prepare=None):
    """Grade the attack folder ``name`` (completed by ``prepare(folder)``); assert what holds for every
    attack; returns results.json's tests by exercise number ("01" ...)."""
    results = tmp_path / "results" / "results.json"
    results.parent.mkdir()
    marker = uuid.uuid4().hex
    folder = attack_folder(tmp_path, name, SOLUTIONS=REPO / "solutions", LIBRARY=LIBRARY_DIR, RESULTS=results,
                           MARKER=marker)
    if prepare is not None:
        prepare(folder)
    proc, data, rss_mb = run_grader(folder, results, "--sandbox", layers, "--timeout", TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_gradescope_schema(data)
    assert rss_mb < GRADER_MB, rss_mb
    written = results.read_bytes()
    text = json.dumps(data)
    leaked = [line for line in secret_texts() if line in text]
    assert not leaked, leaked[:3]
    assert "unprivileged user" in data["output"] if "user" in layers else "bubblewrap" in data["output"]
    time.sleep(4)  # what an escaped process would do, it does now
    assert results.read_bytes() == written
    assert not processes_with(marker)
    return {t["name"].split()[1]: t for t in data["tests"]}


@pytest.mark.parametrize("layers", LAYER_PARAMS)
def test_escapes_are_contained(tmp_path, layers):
    tests = graded(tmp_path, "escape", layers)
    for number, test in tests.items():
        assert test["score"] == 0, (number, test["output"])


def case_messages(test: dict) -> list[str]:
    """The message of every failing case in one exercise's feedback (results.json's test output)."""
    lines = test["output"].splitlines()
    return [lines[i + 1].strip() if i + 1 < len(lines) else "" for i, line in enumerate(lines)
            if line.strip().startswith("FAIL")]


@pytest.mark.parametrize("layers", LAYER_PARAMS)
def test_forbidden_functions_are_denied_however_reached(tmp_path, layers):
    tests = graded(tmp_path, "forbidden", layers)
    for number, test in tests.items():
        assert test["score"] == 0, (number, test["output"])
        messages = case_messages(test)
        denied = [m for m in messages if f"not allowed in exercise {int(number)}: write it yourself" in m]
        # the cases that must raise ValueError are no attack: the attack gives them a value, and loses them
        others = [m for m in messages if m not in denied and not m.startswith("should raise ValueError")]
        # exercise 7 tries the grader's original library too: unreachable, whatever the error says
        assert len(others) <= (1 if number == "07" else 0), (number, others)


FILE_VERDICTS = {  # exercise -> text its feedback must contain
    "01": "ex01_patchify.py was not graded: it is a symbolic link, not a file",
    "02": "sol02.py not copied (a symbolic link, not a file)",
    "03": "it is a hard link to another file",
    "04": "it is not a regular file",
    "05": "it is not a regular file",
    "06": "the results your code sent back are malformed",
    "07": "the results your code sent back are malformed",
    "08": "the results your code sent back are malformed",
    "09": "too deeply nested",
    "10": "the results your code sent back are malformed",
}


@pytest.mark.parametrize("layers", LAYER_PARAMS)
def test_links_special_files_and_malformed_results_score_nothing(tmp_path, layers):
    import os
    import shutil

    solutions = REPO / "solutions"

    def complete(folder):  # what git cannot store
        (folder / "ex01_patchify.py").symlink_to(solutions / "ex01_patchify.py")
        (folder / "sol02.py").symlink_to(solutions / "ex02_patch_embedding.py")
        shutil.copy(solutions / "ex03_positional_embedding.py", folder.parent / "elsewhere.py")  # not the original:
        os.link(folder.parent / "elsewhere.py", folder / "ex03_positional_embedding.py")  # its link count stays 1
        os.mkfifo(folder / "ex04_attention.py")
        (folder / "ex05_encoder_block.py").mkdir()
        (folder / "ex09_rollout.py").write_text("x = " + "-" * 200_000 + "1\n\n\ndef rollout(attentions):\n"
                                                "    return attentions\n")

    tests = graded(tmp_path, "files", layers, prepare=complete)
    for number, text in FILE_VERDICTS.items():
        assert tests[number]["score"] == 0, (number, tests[number]["output"])
        assert text in tests[number]["output"], (number, tests[number]["output"])


ONE_LINE_IMPORT = '''"""Correct, with numpy and torch imported on one line (a formatter would split it)."""

import numpy as np, torch


def pool(x, mode, num_prefix_tokens=0):
    t = torch.from_numpy(np.asarray(x))
    return t[..., 0, :] if mode == "cls" else t[..., num_prefix_tokens:, :].mean(-2)
'''


@pytest.mark.parametrize("layers", LAYER_PARAMS)
def test_correct_code_in_unusual_import_forms_gets_full_marks(tmp_path, layers):
    import shutil

    def complete(folder):
        (folder / "ex06_pooling.py").write_text(ONE_LINE_IMPORT)
        for name in ("ex02_patch_embedding.py", "ex04_attention.py", "ex07_vit_forward.py"):
            shutil.copy(REPO / "solutions" / name, folder / name)

    tests = graded(tmp_path, "honest", layers, prepare=complete)
    for number in ("01", "02", "04", "05", "06", "07"):
        assert tests[number]["score"] == tests[number]["max_score"] == 10, (number, tests[number]["output"])


LIMIT_VERDICTS = {  # exercise -> text its feedback must contain
    "01": f"0 of {len(hidden.cases('patchify'))}",
    "02": "can't start new thread",
    "03": f"0 of {len(hidden.cases('positional_embedding'))}",
    "04": f"0 of {len(hidden.cases('attention'))}",
    "05": "memory",
    "06": "time limit",
}


@pytest.mark.parametrize("layers", [p for p in LAYER_PARAMS if "user" in p.values[0]])
def test_resource_limits_hold(tmp_path, layers):
    import os
    import pwd

    start = time.monotonic()
    tests = graded(tmp_path, "limits", layers)
    assert time.monotonic() - start < 120
    for number, text in LIMIT_VERDICTS.items():
        assert tests[number]["score"] == 0, (number, tests[number]["output"])
        assert text in tests[number]["output"], (number, tests[number]["output"])
    uids = {u.pw_uid for u in pwd.getpwall() if u.pw_name.startswith("vitgrader")}
    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not [e.name for e in os.scandir(shared) if e.stat(follow_symlinks=False).st_uid in uids]


def test_the_escape_attacks_are_real_without_the_layers(tmp_path):
    """The same attack, with no operating-system layer (as the self-check runs): the in-process guard is
    switched off and the solution is read.  What stops it in the tests above is the boundary, not luck."""
    from vit_lessons.grade import grade

    folder = attack_folder(tmp_path, "escape", SOLUTIONS=REPO / "solutions", LIBRARY=LIBRARY_DIR,
                           RESULTS=tmp_path / "r.json", MARKER="-")
    for path in folder.glob("ex*.py"):
        if path.name != "ex01_patchify.py":
            path.unlink()
    [result] = grade(folder, only=["patchify"], sandbox="none", unsafe=True, timeout=30)
    feedback = result.hint + " ".join(c.message for c in result.cases)
    assert any(line in feedback for line in secret_texts()), feedback[:500]


HOLD_USERS = """
import sys
from vit_lessons.grade import secrets
from vit_lessons.grading.sandbox import Sandbox

box = Sandbox.create(sys.argv[1], slots=2, secrets=secrets())
print(" ".join(u.name for u in box.users), flush=True)
sys.stdin.read()  # held until the test closes stdin
box.close()
"""


# with bubblewrap: without it, every sandbox user must first be let reach Python (provision --slots N), and
# this machine's first two are
CLAIM_PARAMS = [p for p in LAYER_PARAMS if p.values[0] == "user,bwrap"]


@pytest.mark.parametrize("layers", CLAIM_PARAMS)
def test_two_graders_at_once_never_share_a_sandbox_user(layers):
    """At the end of every exercise all processes of its sandbox user are killed: two graders sharing a user
    would kill each other's learners.  Each grader (another process, or another run in this one) holds its
    users until it closes, ``slots`` of them, all distinct; closed, they are free again."""
    import subprocess
    import sys

    from vit_lessons.grade import secrets
    from vit_lessons.grading.sandbox import Sandbox

    other = subprocess.Popen([sys.executable, "-c", HOLD_USERS, layers], cwd=REPO, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        theirs = set(other.stdout.readline().split())
        first = Sandbox.create(layers, slots=3, secrets=secrets())
        second = Sandbox.create(layers, slots=2, secrets=secrets())
        mine, also = {u.name for u in first.users}, {u.name for u in second.users}
        assert len(theirs) == 2 and len(mine) == 3 and len(also) == 2, (theirs, mine, also)
        assert not (theirs & mine or theirs & also or mine & also), (theirs, mine, also)
        first.close()
        again = Sandbox.create(layers, slots=3, secrets=secrets())
        assert {u.name for u in again.users} == mine  # the lowest free users, given back by close()
        again.close()
        second.close()
    finally:
        other.communicate("", timeout=60)
    assert other.returncode == 0


@pytest.mark.parametrize("layers", CLAIM_PARAMS)
def test_two_graders_running_at_once_both_give_full_marks(tmp_path, layers):
    """Two graders on one machine, each with two learners at a time, grading the solutions at the same
    moment: neither kills the other's learners ("the process ended during this case")."""
    import subprocess
    import sys

    only = [a for name in ("encoder_block", "vit_forward", "vit_forward_cls", "rollout") for a in ("--only", name)]
    runs = [subprocess.Popen([sys.executable, "-m", "vit_lessons.grade", "--submission", str(REPO / "solutions"),
                              "--results", str(tmp_path / f"{i}.json"), "--sandbox", layers, "--jobs", "2", *only],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for i, run in enumerate(runs):
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
        data = json.loads((tmp_path / f"{i}.json").read_text())
        assert all(t["score"] == t["max_score"] for t in data["tests"]), out
