"""Run a learner's functions in a separate, limited process and bring back what they returned.

The grader's side of :mod:`vit_lessons.grading._child`.  One process per exercise (restarted after a
crash for the cases left), with:

- a wall-clock budget for the whole exercise (the process group is killed when it runs out);
- an address-space limit (``memory_mb``), a cap on the size of written files and on CPU time;
- a cleared environment, ``python -I`` (no user site, no ``PYTHON*`` variables, no script directory on
  the path), a temporary working directory, and the audit hook of ``_child.py``;
- inputs passed as ``.npz`` + JSON, outputs read back the same way with ``allow_pickle=False``: nothing the
  learner's process writes can execute code in the grader.

The expected outputs never enter the learner's process, and the learner's process never learns where the
results file is; the grader writes it after every learner process has ended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vit_lessons

CHILD = Path(__file__).with_name("_child.py")
LIBRARY_DIR = Path(vit_lessons.__file__).resolve().parent
PRELOAD_ALLOWED = ("numpy", "scipy", "scipy.special", "torch", "einops", "vit_lessons")


@dataclass
class Outcome:
    """What one case gave: ``status`` is "value", "error", "timeout", "crashed" or "not_run"."""

    status: str
    value: object = None
    error: dict | None = None
    mutated: list = field(default_factory=list)


class Unreadable:
    """An output the child wrote but the grader could not read (described by ``why``)."""

    def __init__(self, why: str):
        self.why = why


class Other:
    """An output that is not an array, a number or a container of them (``type`` names it)."""

    def __init__(self, type_name: str):
        self.type_name = type_name


class Scalar:
    """A Python int or float returned where something else may have been expected."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text


def _encode_inputs(value, arrays):
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"t": "array", "key": key}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "items": [_encode_inputs(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": {k: _encode_inputs(v, arrays) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "plain", "value": value}
    raise TypeError(f"cannot pass a {type(value).__name__} to the learner's process")


def _decode_output(tree, arrays):
    kind = tree.get("t") if isinstance(tree, dict) else None
    if kind == "none":
        return None
    if kind == "array":
        if tree.get("key") not in arrays:
            return Unreadable("an array is missing from the output")
        return arrays[tree["key"]]
    if kind in ("tuple", "list"):
        items = [_decode_output(v, arrays) for v in tree.get("items", [])]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(k): _decode_output(v, arrays) for k, v in dict(tree.get("items", {})).items()}
    if kind == "scalar":
        return Scalar(str(tree.get("type"))[:20], str(tree.get("repr"))[:50])
    if kind == "other":
        return Other(str(tree.get("type"))[:200])
    return Unreadable("the output description is malformed")


def _read_outcome(out_dir: Path, i: int) -> Outcome | None:
    path = out_dir / f"{i}.json"
    if not path.exists():
        return None
    try:
        if path.stat().st_size > 5_000_000:
            raise ValueError("output description too large")
        record = json.loads(path.read_text())
        mutated = [str(m)[:50] for m in record.get("mutated", [])][:10]
        if record.get("t") == "error":
            return Outcome("error", error={k: record.get(k) for k in ("type", "message", "where")}, mutated=mutated)
        arrays = {}
        npz = out_dir / f"{i}.npz"
        if npz.exists():
            with np.load(npz, allow_pickle=False) as data:
                arrays = {k: np.array(data[k]) for k in data.files}
        return Outcome("value", value=_decode_output(record.get("value"), arrays), mutated=mutated)
    except Exception as exc:  # noqa: BLE001 - anything the learner's process wrote may be malformed
        return Outcome("value", value=Unreadable(f"the output could not be read back ({type(exc).__name__})"))


def read_roots(submission_dir: Path) -> list[str]:
    """Where the learner's process may read: its submission, the Python installation, the library."""
    roots = {str(submission_dir), sys.prefix, sys.base_prefix, sys.exec_prefix, str(LIBRARY_DIR),
             "/dev/null", "/dev/urandom", "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu",
             "/sys/fs/cgroup"}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_paths()[key])
    return sorted(os.path.realpath(r) for r in roots)


def run_cases(file: Path, functions_cases: list[dict], *, timeout: float, memory_mb: int = 3072,
              preload: tuple[str, ...] = ()) -> tuple[list[Outcome], dict]:
    """Run ``cases`` (dicts with "func", "args", "arg_names") of the learner's ``file`` in a child process.

    Returns (one Outcome per case, info) where info has "import_error" (the error the module raised on
    import, or None), "stdout" (what the child printed, at most 20 000 characters), "seconds".
    """
    file = Path(file).resolve()
    submission_dir = file.parent
    start = time.monotonic()
    outcomes: list[Outcome | None] = [None] * len(functions_cases)
    info = {"import_error": None, "stdout": "", "seconds": 0.0}
    deny = [str(LIBRARY_DIR / "grading")]  # the grader (its reference computations) is no exercise help
    with tempfile.TemporaryDirectory(prefix="vit_grading_") as tmp:
        job_dir = Path(os.path.realpath(tmp))
        (job_dir / "work").mkdir()
        (job_dir / "out").mkdir()
        arrays: dict = {}
        cases = [{"func": c["func"], "arg_names": list(c["arg_names"]),
                  "args": _encode_inputs(tuple(c["args"]), arrays)} for c in functions_cases]
        np.savez(job_dir / "inputs.npz", **arrays)
        job = {"file": str(file), "module": file.stem, "submission_dir": str(submission_dir), "cases": cases,
               "work_dir": str(job_dir / "work"), "memory_mb": int(memory_mb), "timeout": float(timeout),
               "library_parent": str(LIBRARY_DIR.parent), "read_roots": read_roots(submission_dir) + [str(job_dir)],
               "deny_roots": deny, "preload": [m for m in preload if m in PRELOAD_ALLOWED]}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(job_dir / "work"), "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        out_dir = job_dir / "out"
        stdout_path = job_dir / "stdout.txt"
        while True:
            pending = [i for i, o in enumerate(outcomes) if o is None]
            remaining = timeout - (time.monotonic() - start)
            if not pending or remaining <= 0:
                break
            job["pending"] = pending
            (job_dir / "job.json").write_text(json.dumps(job))
            with open(stdout_path, "ab") as sink:
                proc = subprocess.Popen([sys.executable, "-I", str(CHILD), str(job_dir)], cwd=job_dir / "work",
                                        env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                timed_out = False
                try:
                    proc.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
                    except (ProcessLookupError, PermissionError):
                        pass
                    proc.wait()
            import_error = _read_import_error(out_dir)
            if import_error is not None:
                info["import_error"] = import_error
                break
            for i in pending:
                outcomes[i] = _read_outcome(out_dir, i)
            started = [i for i in pending if outcomes[i] is None and (out_dir / f"{i}.started").exists()]
            if timed_out:
                for i in started:
                    outcomes[i] = Outcome("timeout")
                break
            if started:
                outcomes[started[0]] = Outcome("crashed", error={"returncode": proc.returncode})
            elif any(outcomes[i] is None for i in pending):
                # ended before starting a case (e.g. killed while importing): do not loop forever
                for i in pending:
                    if outcomes[i] is None:
                        outcomes[i] = Outcome("crashed", error={"returncode": proc.returncode})
                break
        info["stdout"] = _head(stdout_path, 20_000)
        shutil.rmtree(job_dir / "work", ignore_errors=True)
    info["seconds"] = time.monotonic() - start
    return [o if o is not None else Outcome("not_run") for o in outcomes], info


def _read_import_error(out_dir: Path) -> dict | None:
    path = out_dir / "import.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text()[:100_000])
        return {k: record.get(k) for k in ("type", "message", "where")}
    except Exception:  # noqa: BLE001
        return {"type": "Error", "message": "importing the submission failed", "where": []}


def _head(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""
