"""The layers are chosen at run time and reported; without one, root refuses; a failure is one exercise's."""

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from vit_lessons.grade import grade, secrets
from vit_lessons.grading import isolation
from vit_lessons.grading.sandbox import Sandbox

from .grading_helpers import REPO, assert_gradescope_schema, layer_params

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the grader refuses only when it runs as root")


@needs_root
def test_root_without_a_layer_refuses_unless_told_otherwise(tmp_path):
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "vit_lessons.grade", "--submission", str(REPO / "solutions"), "--results",
               str(results), "--only", "pooling", "--sandbox", "none"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "refusing to run learners' code as root" in proc.stderr
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert data["tests"][-1]["name"] == "Autograder failed" and "--unsafe-no-sandbox" in data["tests"][-1]["output"]
    proc = subprocess.run([*command, "--unsafe-no-sandbox"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert data["score"] == 10 and "no operating-system boundary" in data["output"]


@needs_root
def test_without_bubblewrap_the_user_layer_holds_alone_and_says_so(monkeypatch):
    monkeypatch.setattr(isolation, "BWRAP", "/nonexistent/bwrap")
    isolation.bwrap_problem.cache_clear()
    try:
        box = Sandbox.create("auto", slots=1, secrets=secrets(REPO / "solutions"))
        try:
            assert not box.layers.bwrap
            text = box.layers.describe()
            assert "bubblewrap: not in force: bubblewrap is not installed" in text
            if box.layers.user:  # the Python installation is reachable by the sandbox users (provisioned)
                [result] = grade(REPO / "solutions", only=["pooling"], sandbox=box)
                assert result.passed, result.verdict
        finally:
            box.close()
        with pytest.raises(isolation.SandboxUnavailable, match="bubblewrap"):
            Sandbox.create("user,bwrap", slots=1, secrets=secrets(REPO / "solutions"))
    finally:
        isolation.bwrap_problem.cache_clear()


def test_an_error_of_the_grader_costs_one_exercise_only(monkeypatch):
    from vit_lessons.grading import engine

    real = engine.judge

    def judge(exercise, *args):
        if exercise.name == "pooling":
            raise KeyError("a bug of the grader")
        return real(exercise, *args)

    monkeypatch.setattr(engine, "judge", judge)
    results = grade(REPO / "solutions", only=["patchify", "pooling", "rollout"])
    by_name = {r.exercise.name: r for r in results}
    pooling = by_name["pooling"]
    assert pooling.score == 0 and "the grader failed on this exercise (KeyError)" in pooling.verdict
    assert "a bug of the grader" not in by_name["pooling"].verdict
    assert by_name["patchify"].passed and by_name["rollout"].passed


def test_odd_submission_files_are_refused_with_a_reason(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    shutil.copy(REPO / "solutions" / "ex06_pooling.py", folder / "ex06_pooling.py")
    (folder / "ex01_patchify.py").write_bytes(b"def patchify(image, patch_size):\n    return '\xff\xfe'\n")
    (folder / "ex09_rollout.py").write_text("# padding\n" * 120_000)  # 1.2 MB
    (folder / "my helper.py").write_text("x = 1\n")
    for i in range(70):
        (folder / f"helper{i:02d}.py").write_text("x = 1\n")
    if os.geteuid() == 0:  # a character device where an exercise should be (only root can make one)
        os.mknod(folder / "ex04_attention.py", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    results = {r.exercise.name: r for r in grade(folder, only=["patchify", "attention", "pooling", "rollout"])}
    if os.geteuid() == 0:
        assert results["attention"].score == 0 and "not a regular file" in results["attention"].verdict
    assert results["pooling"].passed, results["pooling"].verdict  # the extra helpers cost it nothing
    assert "not a Python module name" in results["pooling"].hint or "more than 64" in results["pooling"].hint
    # not UTF-8 and no coding cookie: read as Python reads it, it does not parse
    assert results["patchify"].score == 0 and "ex01_patchify.py does not parse" in results["patchify"].verdict \
        and "utf-8" in results["patchify"].verdict
    assert results["rollout"].score == 0 and "bytes (at most 1000000)" in results["rollout"].verdict


def test_the_self_check_refuses_what_the_grader_refuses(tmp_path, capsys):
    """A forbidden function reached at run time fails the self-check too: no "Well done" before the grader
    takes the points."""
    from vit_lessons.grading import check

    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex06_pooling.py").write_text(
        "import sys\nfrom types import SimpleNamespace\n\n\ndef pool(x, mode, num_prefix_tokens=0):\n"
        "    cfg = SimpleNamespace(pool=mode, num_prefix_tokens=num_prefix_tokens)\n"
        "    return vars(sys.modules['vit_lessons.model'])['po' + 'ol'](x, cfg)\n")
    assert check("pooling", submission=folder) is False
    out = capsys.readouterr().out
    assert "not allowed in exercise 6: write it yourself" in out and "Well done" not in out
    assert "not a security boundary" in out
    [result] = grade(folder, only=["pooling"])
    assert result.score == 0 and "not allowed in exercise 6" in result.hint


def test_grading_leaves_the_import_path_and_modules_as_they_were():
    import sys

    path, modules = list(sys.path), set(sys.modules)
    results = grade(REPO / "solutions", only=["vit_forward", "vit_forward_cls"])  # ex07/08 import ex05
    assert all(r.passed for r in results), [(r.verdict, r.hint) for r in results]
    assert sys.path == path
    assert not {m for m in set(sys.modules) - modules if m.startswith(("ex0", "ex1", "_solution"))}


@needs_root
def test_provision_prepares_the_machine_and_is_idempotent():
    command = [sys.executable, "-m", "vit_lessons.grading.provision"]
    for _ in range(2):
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "(ready)" in proc.stdout
    assert "may pass" not in proc.stdout and "mode" not in proc.stdout  # nothing left to change the second time


#: exercise -> calls of library functions its docstring allows (they must work in its sandbox, whatever
#: the exercise forbids: e.g. patchify composes conv_windows; multi_head_attention composes linear)
ALLOWED_CALLS = {
    "patch_embedding": "V.patchify(z(4, 4, 3), 2)",
    "positional_embedding": "V.patchify(z(4, 4, 3), 2), V.patch_embed(z(4, 4, 3), z(8, 3, 2, 2), z(8)), "
                            "V.linear(z(2, 3), z(4, 3), z(4))",
    "attention": "V.softmax(z(3)), V.linear(z(2, 3), z(4, 3), z(4))",
    "encoder_block": "V.linear(z(2, 3), z(4, 3), z(4)), V.multi_head_attention(z(5, 8), attn(), 'attn.', 2)",
    "vit_forward": "V.init_params(cfg(), 0), V.patchify(z(4, 4, 3), 2), V.patch_embed(z(4, 4, 3), z(8, 3, 2, 2), "
                   "z(8)), V.linear(z(2, 3), z(4, 3)), V.softmax(z(3)), "
                   "V.multi_head_attention(z(5, 8), attn(), 'attn.', 2)",
    "vit_forward_cls": "V.init_params(cfg(), 0), V.patch_embed(z(4, 4, 3), z(8, 3, 2, 2), z(8)), "
                       "V.multi_head_attention(z(5, 8), attn(), 'attn.', 2)",
    "rollout": "V.forward(V.init_params(cfg(), 0), z(4, 4, 3), cfg(), return_attention=True)",
    "block_backward": "V.layer_norm(z(2, 3), z(3), z(3)), V.gelu(z(3)), "
                      "V.multi_head_attention(z(5, 8), attn(), 'attn.', 2)",
}
WRAPPER = '''

import numpy as _np
import vit_lessons as V


def z(*shape):
    return _np.zeros(shape)


def cfg():
    return V.ViTConfig(image_size=(4, 4), patch_size=2, d_model=8, num_heads=2, d_ff=16, num_layers=1, num_classes=3)


def attn():
    return {f"attn.{n}.{kind}": z(8, 8) if kind == "weight" else z(8) for n in ("q", "k", "v", "proj")
            for kind in ("weight", "bias")}


_reference = FUNC


def FUNC(*args):
    CALLS
    return _reference(*args)
'''


def test_the_library_functions_an_exercise_allows_work_in_its_sandbox(tmp_path):
    from vit_lessons.grading.registry import EXERCISES

    folder = tmp_path / "sub"
    folder.mkdir()
    for path in (REPO / "solutions").glob("ex*.py"):
        shutil.copy(path, folder / path.name)
    for name, calls in ALLOWED_CALLS.items():
        ex = EXERCISES[name]
        func = next(iter(ex.functions))
        path = folder / ex.file
        path.write_text(path.read_text() + WRAPPER.replace("FUNC", func).replace("CALLS", calls))
    results = grade(folder, only=list(ALLOWED_CALLS))
    for r in results:
        assert r.passed, (r.exercise.name, r.verdict, r.hint)


# ---- what each layer says, and what holds without one ----------------------------------------------------------
@needs_root
def test_a_missing_layer_is_said_and_recorded_in_results_json(monkeypatch, tmp_path, capsys):
    """``auto`` without bubblewrap: why is printed, and recorded in results.json's output."""
    from vit_lessons.grade import main

    monkeypatch.setattr(isolation, "BWRAP", "/nonexistent/bwrap")
    isolation.bwrap_problem.cache_clear()
    try:
        code = main(["--submission", str(REPO / "solutions"), "--only", "pooling", "--results",
                     str(tmp_path / "results.json"), "--sandbox", "auto"])
    finally:
        isolation.bwrap_problem.cache_clear()
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text())
    assert code == 0
    for text in (out, data["output"]):
        assert "bubblewrap: not in force: bubblewrap is not installed" in text, text[:1000]


@needs_root
def test_inside_bubblewrap_without_sandbox_users_the_learner_is_no_one(monkeypatch, tmp_path):
    """``auto`` when no sandbox user can be had: bubblewrap alone, and the learner's process takes ids of no
    one (not root), with no capability, and says why the user layer is missing."""
    from vit_lessons.grading.isolation import ANONYMOUS_BASE

    from .grading_helpers import attack_folder
    from .test_grading_sandbox import probe_of

    def no_users(count, claim=False):
        raise isolation.SandboxUnavailable("useradd is not available here")

    monkeypatch.setattr(isolation, "sandbox_users", no_users)
    box = Sandbox.create("auto", slots=1, secrets=secrets(REPO / "solutions"))
    try:
        assert box.layers.bwrap and not box.layers.user
        assert "unprivileged user: not in force: useradd is not available here" in box.layers.describe()
        assert [u.uid for u in box.users] == [u.gid for u in box.users] and box.users[0].uid >= ANONYMOUS_BASE
        folder = attack_folder(tmp_path, "privileges", MARKER_FILE=tmp_path / "marker", REPO=REPO,
                               SOLUTIONS=REPO / "solutions")
        [result] = grade(folder, only=["pooling"], sandbox=box, timeout=60)
    finally:
        box.close()
    probe = probe_of({"output": result.hint})
    assert probe["CapEff"] == probe["CapPrm"] == probe["CapAmb"] == "0000000000000000", probe
    assert probe["uid"] >= ANONYMOUS_BASE and probe["handle"] == probe["mount"] == probe["userns"] == "EPERM", probe


@pytest.mark.parametrize("layers", layer_params())
def test_without_control_groups_the_memory_is_added_up(tmp_path, layers):
    """Where the grader cannot make control groups (Gradescope's containers), the memory of all the learner's
    processes is added up instead, and the forked processes of attacks/memory are stopped all the same."""
    import dataclasses

    from .grading_helpers import attack_folder

    folder = attack_folder(tmp_path, "memory", CHUNK_MB=300)
    box = Sandbox.create(layers, slots=1, secrets=secrets(REPO / "solutions"))
    box.layers = dataclasses.replace(box.layers, cgroup=False)
    try:
        results = grade(folder, only=["patchify", "pooling"], sandbox=box, timeout=30, memory_mb=1024, jobs=1)
    finally:
        box.close()
    for r in results:
        assert r.score == 0 and "more than 1024 MB of memory (the memory limit)" in r.verdict, (r.verdict, r.hint)


SYSV = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
assert libc.shmget(0, 1 << 20, 0o1666) >= 0 and libc.semget(0, 1, 0o1666) >= 0 and libc.msgget(0, 0o1666) >= 0
for folder in ("/tmp", "/dev/shm", "/var/tmp"):
    os.makedirs(f"{folder}/vit-left-{os.getuid()}/a/b", exist_ok=True)
    open(f"{folder}/vit-left-{os.getuid()}.txt", "w").write("x")
"""


@needs_root
def test_what_a_sandbox_user_leaves_on_the_machine_is_removed():
    """System V shared memory, semaphores and message queues, files and folders in the shared folders: all
    of a sandbox user's is removed (what a learner's process could leave where no seccomp filter stops it)."""
    from vit_lessons.grading import leftovers

    [user] = isolation.sandbox_users(1)
    subprocess.run([sys.executable, "-I", "-c", SYSV], user=user.uid, group=user.gid, extra_groups=[], check=True,
                   cwd="/", timeout=60)

    def left():
        ipc = [kind for kind in ("shm", "sem", "msg")
               if f" {user.uid} " in "".join(open(f"/proc/sysvipc/{kind}").read().splitlines(True)[1:])]
        return ipc + [e.path for f in ("/tmp", "/dev/shm", "/var/tmp") for e in os.scandir(f)
                      if e.stat(follow_symlinks=False).st_uid == user.uid]

    assert len(left()) == 9, left()
    folders, complete = leftovers.writable_dirs({user.gid})
    assert complete and {"/tmp", "/dev/shm", "/var/tmp"} <= set(folders), folders
    trash = leftovers.Trash(["/tmp"])
    leftovers.clean_user(user.uid, folders, trash)
    trash.close()
    assert not left(), left()


def test_a_tree_of_any_depth_is_measured_and_deleted_without_recursion(tmp_path):
    """Folders nested far deeper than Python's recursion (and than PATH_MAX): measured up to a depth, and
    deleted, as are wide ones."""
    from vit_lessons.grading import leftovers

    top = tmp_path / "tree"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d" * 50, dir_fd=fd)
        child = os.open("d" * 50, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    for i in range(500):
        (top / f"f{i}").write_text("x")
    use = leftovers.usage([str(top)], [], None, limit=10_000, depth=64)
    assert use.deep and use.entries <= 600, use
    use = leftovers.usage([str(top)], [], None, limit=100, depth=10_000)
    assert use.entries == 101 and not use.deep, use
    leftovers.by_path(leftovers.remove, top)
    assert not top.exists()


def test_bubblewrap_s_folder_is_watched_only_once_the_sandbox_has_its_own_root(tmp_path):
    """Before bubblewrap's first process has its own root, /proc/PID/root/tmp is the machine's /tmp (whatever
    other programs keep there, counted against the learner: an honest exercise 'wrote more than 256 MB');
    after it ended, PID may be another process's.  Neither is watched."""
    from types import SimpleNamespace

    from vit_lessons.grading.sandbox import _Watch

    box = SimpleNamespace(layers=SimpleNamespace(bwrap=True, user=False))
    me = os.getpid()  # a process whose root is the machine's
    run = {"sandbox_pid": me, "namespace": isolation.pid_namespace(me), "work_dir": tmp_path, "group": None}
    assert _Watch(box, None, run, 100).sandbox_folders() == []
    gone = {**run, "namespace": "pid:[1]"}  # the number now names a process of another namespace
    assert _Watch(box, None, gone, 100).sandbox_folders() == []


@needs_root
def test_stopping_a_sandbox_whose_first_process_ended_spares_a_namespace_that_took_its_name(tmp_path):
    """When a sandbox's first process ends, the kernel kills the rest of its PID namespace, and the namespace's
    name ("pid:[N]") is free for the next sandbox's: stopping the ended one must not kill by that name (a
    sandbox started beside it, by the same grader, was killed so before it could start)."""
    other = subprocess.Popen(["unshare", "--pid", "--fork", "sleep", "60"])  # another sandbox's namespace
    try:
        for _ in range(100):
            inner = [p for p in isolation.descendants(other.pid) or [] if isolation.pid_namespace(p) not in
                     (None, isolation.pid_namespace(os.getpid()))]
            if inner:
                break
            time.sleep(0.02)
        namespace = isolation.pid_namespace(inner[0])
        ended = subprocess.Popen(["true"])
        ended.wait()  # its number now names no process (or another one)
        mine = subprocess.Popen(["sleep", "60"], start_new_session=True)
        isolation.stop_all(mine, user=None, namespace=namespace, sandbox_pid=ended.pid, patience=0.5)
        assert mine.poll() is not None
        assert isolation.pid_namespace(inner[0]) == namespace  # the other sandbox's process lives
    finally:
        other.kill()
        other.wait()
