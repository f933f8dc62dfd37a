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
    """A copy of ``attacks/name`` (and the helpers shared by all attack folders) with its ``__KEY__``
    placeholders filled in."""
    folder = tmp_path / name
    folder.mkdir()
    for path in sorted([*ATTACKS.glob("*.py"), *(ATTACKS / name).glob("*.py")]):  # shared helpers, then its own
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


def processes_with(marker: str) -> list[str]:
    """Live processes that a grader's learner code may have left: those of the sandbox users, those running
    the staged child script, those whose command line mentions ``marker``."""
    import os
    import pwd

    uids = {str(u.pw_uid) for u in pwd.getpwall() if u.pw_name.startswith("vitgrader")}
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
        if uids & set(ids) or marker in cmdline or "/job/child/_child.py" in cmdline:
            found.append(f"{pid}: {cmdline[:200]}")
    return found


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
