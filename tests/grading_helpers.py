"""Helpers of the grading tests: submission folders built from the catalogue, and the results.json schema."""

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def submission(tmp_path: Path, source: Path, target: str = "ex07_vit_forward.py", **placeholders) -> Path:
    """A submission folder holding ``source`` as ``target`` and the catalogue's learner module."""
    folder = tmp_path / f"sub_{source.stem}"
    folder.mkdir()
    text = source.read_text()
    for key, value in placeholders.items():
        text = text.replace(f"__{key}__", str(value))
    (folder / target).write_text(text)
    shutil.copy(SUBMISSIONS / "learner_vit.py", folder / "learner_vit.py")
    return folder


def assert_gradescope_schema(data: dict) -> None:
    """Gradescope's results.json: the fields this grader promises, with their types."""
    assert isinstance(data["score"], (int, float))
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert isinstance(data["output"], str)
    assert data["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert data["stdout_visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert isinstance(data["tests"], list) and data["tests"]
    for t in data["tests"]:
        assert set(t) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert isinstance(t["name"], str) and isinstance(t["number"], str) and isinstance(t["output"], str)
        assert 0 <= t["score"] <= t["max_score"] or t["max_score"] == 0
        assert t["status"] in ("passed", "failed")
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6


# ---- the sandbox's layers, and graders run as a separate process ---------------------------------------------
ATTACKS = SUBMISSIONS / "attacks"
LAYERS = ("user", "bwrap", "user,bwrap")
# the grader's own peak memory: VmHWM of its address space (ru_maxrss would count, across the exec, the
# memory of the process that started it)
RSS_PROBE = ("import sys\n"
             "from vit_lessons.grade import main\n"
             "code = main(sys.argv[2:])\n"
             "peak = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
             "open(sys.argv[1], 'w').write(peak)\n"
             "sys.exit(code)\n")


def layer_problem(layers: str) -> str | None:
    """None when the grader can run with ``layers`` here, else why not."""
    from vit_lessons.grade import secrets
    from vit_lessons.grading.isolation import SandboxUnavailable
    from vit_lessons.grading.sandbox import Sandbox

    try:
        Sandbox.create(layers, slots=2, secrets=secrets(REPO / "solutions")).close()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def layer_params():
    """pytest parameters, one per layer combination: skipped where unavailable, unless the environment
    variable VIT_LESSONS_REQUIRE_SANDBOX lists it (as .ci/run does), then a failure."""
    import os

    import pytest

    required = set(filter(None, os.environ.get("VIT_LESSONS_REQUIRE_SANDBOX", "").split(";")))
    params = []
    for layers in LAYERS:
        problem = layer_problem(layers)
        marks = [] if problem is None or layers in required else [pytest.mark.skip(reason=problem)]
        params.append(pytest.param(layers, marks=marks, id=layers.replace(",", "+")))
    return params


def attack_folder(tmp_path: Path, name: str, **placeholders) -> Path:
    """A copy of ``attacks/name`` (and the helpers shared by all attack folders, and by its parent folder's
    attacks: ``attacks/collusion/channels.py`` for ``collusion/a_writer``) with its ``__KEY__``
    placeholders filled in."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    shared = [*ATTACKS.glob("*.py"), *((ATTACKS / name).parent.glob("*.py") if "/" in name else [])]
    for path in sorted([*shared, *(ATTACKS / name).glob("*.py")]):  # shared helpers, then its own
        text = path.read_text()
        for key, value in placeholders.items():
            text = text.replace(f"__{key}__", str(value))
        (folder / path.name).write_text(text)
    return folder


def run_grader(folder: Path, results: Path, *args: str, timeout: float = 600):
    """``python -m vit_lessons.grade`` on ``folder`` in a separate process; returns (completed process,
    results.json as parsed, the grader process's own peak memory in MB)."""
    import json
    import subprocess
    import sys

    rss = results.with_suffix(".rss")
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, str(rss), "--submission", str(folder), "--results",
                           str(results), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    data = json.loads(results.read_text()) if results.exists() else None
    return proc, data, int(rss.read_text()) / 1024 if rss.exists() else None


def run_class_grader(folder: Path, out: Path, *args: str, env: dict | None = None, timeout: float = 900):
    """``python -m vit_lessons.grade --class folder --out out`` in a separate process; returns (completed
    process, {student: results.json as parsed})."""
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--class", str(folder), "--out", str(out),
                           "--no-progress", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    return proc, results


def learner_uid(uid: int) -> bool:
    """Whether ``uid`` is one a learner's process may run as: a sandbox user, or an id of no one."""
    import pwd

    from vit_lessons.grading.isolation import ANONYMOUS_BASE

    if uid >= ANONYMOUS_BASE:
        return True
    try:
        return pwd.getpwuid(uid).pw_name.startswith("vitgrader")
    except KeyError:
        return False


def _descends_from(pid: str, text: bytes) -> bool:
    """Whether a live ancestor of ``pid`` has ``text`` in its command line."""
    seen = set()
    while pid not in ("0", "1") and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/status") as f:
                pid = next(line.split()[1] for line in f if line.startswith("PPid:"))
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text in f.read():
                    return True
        except (OSError, StopIteration):
            return False
    return False


def learner_memory(grader_text: str) -> int:
    """Bytes of anonymous and shared memory that learners' processes (of a sandbox user or an id of no one)
    started by the grader whose command line has ``grader_text`` hold now."""
    import os

    total = 0
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            if not learner_uid(int(status["Uid"].split()[0])) or not _descends_from(pid, grader_text.encode()):
                continue
            total += sum(int(status.get(k, "0 kB").split()[0]) << 10 for k in ("RssAnon", "RssShmem"))
        except (OSError, KeyError, ValueError):
            continue
    return total


def _graded_by_another(pid: str) -> bool:
    """Whether ``pid`` descends from a live grader or test run (another test's or another checkout's, on this
    machine now): what a finished grader left is an orphan, no grader's descendant."""
    return _descends_from(pid, b"vit_lessons") or _descends_from(pid, b"pytest")


def processes_with(marker: str) -> list[str]:
    """Live processes that a grader's learner code may have left: those whose command line mentions
    ``marker``, and, unless a live grader (of another test, on this shared machine) is their ancestor,
    those of the sandbox users and ids of no one and those running the staged child script."""
    import os
    import time

    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue
        ids = next((line.split()[1:4] for line in status.splitlines() if line.startswith("Uid:")), [])
        learner = any(learner_uid(int(i)) for i in ids) or "/job/child/_child.py" in cmdline
        if marker in cmdline or (learner and not _graded_by_another(pid)):
            found.append((pid, f"{pid}: {cmdline[:200]}"))
    if found:  # what another run started and ended in the meantime is no leftover
        time.sleep(0.5)
        found = [(pid, text) for pid, text in found if os.path.exists(f"/proc/{pid}") and
                 (marker in text or not _graded_by_another(pid))]
    return [text for _, text in found]


def secret_texts() -> list[str]:
    """Distinctive lines of the reference solutions (inside their solution blocks) and of the hidden tests, and
    the hidden cases' seed."""
    lines = []
    for path in sorted((REPO / "solutions").glob("ex*.py")):
        body = path.read_text().split("BEGIN SOLUTION")[1:]
        lines += [line.strip() for block in body for line in block.split("END SOLUTION")[0].splitlines()[1:]]
    lines += (REPO / "vit_lessons" / "grading" / "hidden" / "__init__.py").read_text().splitlines()
    from vit_lessons.grading.hidden import SEED

    seed = [str(SEED), f"{SEED:_}"]  # the one secret of the hidden cases, short as it is
    return sorted({line.strip() for line in lines if len(line.strip()) >= 25 and not line.strip().startswith("#")}
                  | set(seed))
