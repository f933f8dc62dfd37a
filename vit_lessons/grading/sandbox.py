"""Run a learner's functions in a separate, limited process and bring back what they returned.

The grader's side of :mod:`vit_lessons.grading._child`.  A :class:`Sandbox` holds what one grading run
shares (the layers in force, see :mod:`vit_lessons.grading.isolation`, the sandbox users, a private
temporary folder whose copies of the library are root's alone, the trash, see
:mod:`vit_lessons.grading.leftovers`); :func:`run_cases` runs one exercise's cases in it, one process at a
time (restarted after a crash for the cases left), with:

- a wall-clock budget for the whole exercise, then everything the learner started is killed (every
  process of the sandbox user, the whole PID namespace, the control group) and checked gone before
  anything is read;
- limits in the child: address space (``memory_mb``), CPU time, file size, open files, processes; and
  for all its processes together: their memory (``memory_mb``; a control group, see
  :mod:`vit_lessons.grading.cgroups`, or a watch) and their number;
- a cap on what is written: bytes (the tmpfs size inside bubblewrap; otherwise a watch over the work
  folder and what the sandbox user owns in the machine's shared writable folders), entries
  (``MAX_ENTRIES`` files and folders) and depth (``MAX_DEPTH``), watched in every layer; on what is
  printed (``MAX_PRINTED`` kept) and on the results (``MAX_RESULT_BYTES`` for the whole exercise,
  however often its process is started again, read back with :func:`protocol.parse`, which trusts
  nothing);
- what the learner left (its work folder; without bubblewrap, the sandbox user's files in the shared
  folders and its System V IPC objects) removed at once after each run (moved aside, deleted in the
  background, see :class:`leftovers.Trash`), so an exercise ends on time whatever it wrote;
- a cleared environment, ``python -I -S``, the job folder read-only, its own working directory.

The expected outputs never enter the learner's process, which never learns where the results file is.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cgroups, isolation, leftovers, protocol
from .isolation import Layers, SandboxUser
from .staging import LIBRARY_DIR, compiled_library

CHILD_FILES = ("_child.py", "protocol.py", "forbidden.py", "deny_torch.py")
PRELOAD_ALLOWED = ("numpy", "scipy", "scipy.special", "torch", "einops", "vit_lessons")
MAX_RESULT_BYTES = 64 << 20
MAX_PRINTED = 20_000
WRITE_BYTES = 256 << 20  # everything the learner's processes may write, per exercise
MAX_PROCESSES = 64  # processes and threads of the sandbox user at once
MAX_ENTRIES = 10_000  # files and folders the learner's processes may make, per exercise
MAX_DEPTH = 64  # how deep their folders may be nested
CACHE_MB = 1024  # the control group's memory limit above the exercise's: the page cache of what it reads
SYSTEM_READ = ("/dev/null", "/dev/urandom", "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu",
               "/sys/fs/cgroup", "/etc/localtime", "/etc/passwd", "/etc/group")


@dataclass
class Outcome:
    """What one case gave: ``status`` is "value", "error", "timeout", "crashed", "not_run" or
    "not_started" (the time limit came before any case started)."""

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


def python_roots() -> list[Path]:
    """The folders of the Python installation the learner's process runs from (read-only)."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return sorted(r for r in roots if not any(o != r and o in r.parents for o in roots))


def python_path(roots: list[Path]) -> list[str]:
    """The grader's import path restricted to the Python installation (no repository, no '')."""
    out = []
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if path and path.is_dir() and any(path == r or r in path.parents for r in roots) \
                and path != LIBRARY_DIR.parent and str(path) not in out:
            out.append(str(path))
    return out


@dataclass
class Sandbox:
    """What a grading run shares: layers, sandbox users (one per exercise at a time), a temporary root."""

    layers: Layers
    users: list[SandboxUser]
    secrets: list[Path]
    root: Path
    _free: queue.Queue = field(default_factory=queue.Queue)
    _libraries: dict = field(default_factory=dict)
    _library_lock: threading.Lock = field(default_factory=threading.Lock)
    trash: leftovers.Trash | None = None
    _writable: list[str] = field(default_factory=list)  # the machine's shared writable folders
    _scan: threading.Thread | None = None
    _prepared: set = field(default_factory=set)

    def library(self, exercise: int | None = None, denied: dict[str, str] | None = None) -> Path:
        """The compiled copy of the library that the job folders link to: without the grader, and for
        ``exercise`` with its ``denied`` functions stubbed.  Made once per exercise and grading run, so
        that every student's job loads it from bytecode.  Each copy's folder is root's alone: a learner
        reaches only the links to its own exercise's copy in its job folder."""
        with self._library_lock:
            if None not in self._libraries:
                self._libraries[None] = compiled_library(self._private("library"))
            if exercise not in self._libraries:
                self._libraries[exercise] = compiled_library(self._private(f"library{exercise:02d}"), denied or {},
                                                             source=self._libraries[None])
            return self._libraries[exercise]

    def _private(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir()
        folder.chmod(0o700)
        return folder

    @classmethod
    def create(cls, requested: str = "auto", *, unsafe: bool = False, slots: int = 1,
               secrets: list[Path] = ()) -> Sandbox:
        root = Path(tempfile.mkdtemp(prefix="vit_grading_")).resolve()
        secrets = [Path(p).resolve() for p in secrets]
        try:
            layers, users = isolation.choose(requested, unsafe=unsafe, slots=slots, secrets=secrets,
                                             python_roots=python_roots())
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        if users and not layers.bwrap:  # the sandbox users may enter their own job folder (not list the others)
            root.chmod(0o711)
        box = cls(layers, users, secrets, root, trash=leftovers.Trash([str(root)]))
        for user in users or [None]:
            for _ in range(1 if users else slots):
                box._free.put(user)
        if users:
            isolation.become_subreaper()
        if users and not layers.bwrap:  # where they can write on the machine: found while the grader starts
            box._scan = threading.Thread(target=box._find_writable, daemon=True)
            box._scan.start()
        return box

    def _find_writable(self) -> None:
        found, complete = leftovers.writable_dirs({u.gid for u in self.users})
        if not complete:
            print("vit_lessons grader: the search for world-writable folders stopped early; the usual ones "
                  f"are watched ({', '.join(found)})", file=sys.stderr)
        self._writable = found
        self.trash.add_homes(found)

    def shared_dirs(self) -> list[str]:
        """The folders of the machine a sandbox user may write in (the user layer without bubblewrap)."""
        if self._scan is not None:
            self._scan.join()
        return self._writable

    def prepare(self, user: SandboxUser | None) -> None:
        """Before a sandbox user's first exercise (without bubblewrap): end what runs as that user and remove
        what it left on the machine (an earlier grader's learners)."""
        if user is None or self.layers.bwrap or user.uid in self._prepared:
            return
        isolation.kill_user(user)
        leftovers.clean_user(user.uid, self.shared_dirs(), self.trash)
        self._prepared.add(user.uid)

    @contextmanager
    def slot(self):
        """A sandbox user (or None) for one exercise, given back when it ends."""
        user = self._free.get()
        try:
            yield user
        finally:
            self._free.put(user)

    def close(self) -> None:
        if self._scan is not None:
            self._scan.join()
        self.trash.close()
        shutil.rmtree(self.root, ignore_errors=True)
        isolation.release(self.users)


def _encode_inputs(value, arrays):
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"t": "array", "key": len(arrays) - 1}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "items": [_encode_inputs(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": {k: _encode_inputs(v, arrays) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "plain", "value": value}
    raise TypeError(f"cannot pass a {type(value).__name__} to the learner's process")


def _decode(tree, arrays):
    """A protocol TREE (already checked by protocol.parse) as Python values."""
    kind = tree["t"]
    if kind == "none":
        return None
    if kind == "array":
        return arrays[tree["key"]]
    if kind in ("tuple", "list"):
        items = [_decode(v, arrays) for v in tree["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in tree["items"].items()}
    if kind == "scalar":
        return Scalar(tree["type"], tree["repr"])
    return Other(tree["type"])


def _outcome(record: dict, arrays: list) -> Outcome:
    if record["t"] == "error":
        return Outcome("error", error={k: record[k] for k in ("type", "message", "where")}, mutated=record["mutated"])
    return Outcome("value", value=_decode(record["value"], arrays), mutated=record["mutated"])


class _Drain(threading.Thread):
    """Reads a pipe to its end in the background, keeping the first ``keep`` bytes."""

    def __init__(self, fd: int, keep: int):
        super().__init__(daemon=True)
        self.fd, self.keep, self.data, self.overflow = fd, keep, bytearray(), False

    def run(self):
        try:
            while chunk := os.read(self.fd, 1 << 16):
                room = self.keep - len(self.data)
                self.data += chunk[:max(room, 0)]
                self.overflow |= len(chunk) > room
        except OSError:
            pass
        finally:
            os.close(self.fd)


# ---- one exercise --------------------------------------------------------------------------------------------
def write_job(job_dir: Path, *, exercise: int, file: str, cases: list[dict], timeout: float, memory_mb: int,
              preload: tuple[str, ...], rules: list, torch_denied: list[str], blocked: list, box: Sandbox,
              user: SandboxUser | None) -> None:
    """The job folder's files besides the staged ``lib/`` and ``submission/``: the child, job.json, inputs."""
    (job_dir / "child").mkdir(mode=0o755)
    for name in CHILD_FILES:
        shutil.copy(Path(__file__).with_name(name), job_dir / "child" / name)
    arrays: list = []
    encoded = [{"func": c["func"], "arg_names": list(c["arg_names"]),
                "args": _encode_inputs(tuple(c["args"]), arrays)} for c in cases]
    np.savez(job_dir / "inputs.npz", **{f"a{i}": a for i, a in enumerate(arrays)})
    roots = python_roots()
    inside = Path(isolation.INSIDE_JOB) if box.layers.bwrap else job_dir
    job = {"exercise": exercise, "file": file, "module": Path(file).stem, "cases": encoded, "timeout": float(timeout),
           "memory_mb": int(memory_mb), "file_bytes": 64 << 20, "max_processes": MAX_PROCESSES if user else 0,
           "python_path": python_path(roots), "preload": [m for m in preload if m in PRELOAD_ALLOWED],
           "preload_allowed": [m for m in PRELOAD_ALLOWED if m != "vit_lessons"],
           "rules": [[r.root, list(r.names), r.why, r.exact] for r in rules],
           "torch_denied": list(torch_denied), "blocked": [list(b) for b in blocked],
           "read_roots": [*map(str, roots), str(inside), *SYSTEM_READ]}
    (job_dir / "job.json").write_text(json.dumps(job))
    isolation.write_identity_files(job_dir, user)
    for path in job_dir.rglob("*"):
        if not path.is_relative_to(job_dir / "lib"):  # the library's files are links shared by every job
            path.chmod(0o755 if path.is_dir() else 0o644)
    if user is not None:  # only this exercise's sandbox user may enter: jobs of others (students) run beside it
        os.chown(job_dir, 0, user.gid)
        job_dir.chmod(0o750)
    else:
        job_dir.chmod(0o755)


def _launch(job_dir: Path, work_dir: Path, box: Sandbox, user: SandboxUser | None, fds: tuple[int, int, int]):
    """Start the child (it waits for a byte on the ``go`` pipe before it does anything); returns (process,
    bubblewrap's info pipe or None)."""
    out_w, print_w, go_r = fds
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    child = [sys.executable, "-I", "-S"]
    kwargs = {"stdin": subprocess.DEVNULL, "stdout": print_w, "stderr": print_w, "start_new_session": True}
    info_r = None
    if box.layers.bwrap:
        info_r, info_w = os.pipe()
        drop = user if (user and isolation.is_root()) else None
        blocked = [name for name, _ in json.loads((job_dir / "job.json").read_text())["blocked"]]
        argv = isolation.bwrap_argv(job_dir, python_roots(), box.secrets + [box.root, *isolation.package_dirs(blocked)],
                                    WRITE_BYTES, drop_to=drop, info_fd=info_w)
        inside = isolation.INSIDE_JOB
        argv += ["--", *child, f"{inside}/child/_child.py", inside, isolation.INSIDE_WORK, str(out_w), str(go_r),
                 *([str(drop.uid), str(drop.gid)] if drop else [])]
        env["HOME"] = isolation.INSIDE_WORK
        kwargs.update(pass_fds=(out_w, go_r, info_w), env=env, cwd="/")
    else:
        info_w = None
        argv = [*child, str(job_dir / "child" / "_child.py"), str(job_dir), str(work_dir), str(out_w), str(go_r)]
        env["HOME"] = str(work_dir)
        kwargs.update(pass_fds=(out_w, go_r), env=env, cwd=work_dir)
        if user:
            kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    try:
        proc = subprocess.Popen(argv, **kwargs)
    finally:
        if info_w is not None:
            os.close(info_w)
    isolation.track(proc.pid, True)
    return proc, info_r


def _enter(proc, group: cgroups.JobGroup | None, sandbox_pid: int | None, namespace: str | None, go_w: int) -> None:
    """Put the learner's process in the control group (inside bubblewrap: the namespace's first process first,
    then every process of the namespace, then bubblewrap), then let it run.  It has started nothing yet: it
    waits for this word; when the group cannot take it, it never gets the word (and ends)."""
    try:
        if group is not None:
            if sandbox_pid:  # first: what it starts from now on is in the group
                group.add(sandbox_pid)
            started = isolation.descendants(sandbox_pid) if sandbox_pid else []
            if started is None:
                started = isolation.processes(namespace=namespace) if namespace else []
            for pid in [*started, proc.pid]:
                try:
                    group.add(pid)
                except ProcessLookupError:
                    continue
        os.write(go_w, b"1")
    finally:
        os.close(go_w)


class _Watch:
    """What the grader checks while the learner's process runs: its memory (the control group's OOM kills, or
    the processes' memory added up), and the files and folders it made (bytes, entries, depth)."""

    def __init__(self, box: Sandbox, user: SandboxUser | None, run: dict, memory_mb: int):
        self.box, self.user, self.run, self.memory_mb = box, user, run, memory_mb
        self.next_disk = 0.0
        self.folders = [] if box.layers.bwrap else [str(run["work_dir"])]
        self.owned_in = box.shared_dirs() if user is not None and not box.layers.bwrap else []

    def sandbox_folders(self) -> list[str]:
        """Inside bubblewrap, its tmpfs as the grader sees it (/proc/PID/root/tmp), once the sandbox has its own
        root (before, that path is the machine's /tmp) and while PID is still the sandbox (never a process that
        took its number since); else the folders watched from the start."""
        pid = self.run["sandbox_pid"]
        if not self.box.layers.bwrap:
            return self.folders
        if not pid or isolation.pid_namespace(pid) != self.run["namespace"]:
            return []
        try:
            inside, host = os.stat(f"/proc/{pid}/root"), os.stat("/")
        except OSError:
            return []
        return [] if (inside.st_dev, inside.st_ino) == (host.st_dev, host.st_ino) else \
            [f"/proc/{pid}/root{isolation.INSIDE_WORK}"]

    def memory_problem(self) -> str | None:
        run, group = self.run, self.run["group"]
        if not (self.box.layers.user or self.box.layers.bwrap):  # no boundary: the per-process limit only
            return None
        if group is not None:
            over = group.oom_kills() > 0 or group.anonymous_bytes() > self.memory_mb << 20
        else:
            pids = isolation.processes(uid=self.user.uid) if self.user is not None and not self.box.layers.bwrap \
                else isolation.processes(namespace=run["namespace"]) if run["namespace"] else [run["proc"].pid]
            shm_uid = self.user.uid if self.user is not None and not self.box.layers.bwrap else None
            over = cgroups.memory_of(pids, shm_uid) > self.memory_mb << 20
        return _memory_message(self.memory_mb) if over else None

    def disk_problem(self) -> str | None:
        now = time.monotonic()
        if now < self.next_disk:
            return None
        uid = self.user.uid if self.user is not None else None
        use = leftovers.usage(self.sandbox_folders(), self.owned_in, uid, MAX_ENTRIES, MAX_DEPTH)
        # a walk costs a fifth of the grader's time at most, and the learner writes for 0.25 s at most unseen
        self.next_disk = time.monotonic() + min(0.25, max(0.05, 4 * (time.monotonic() - now)))
        if use.deep:
            return f"your code made folders more than {MAX_DEPTH} deep"
        if use.entries > MAX_ENTRIES:
            return f"your code made more than {MAX_ENTRIES} files and folders"
        if use.bytes > WRITE_BYTES:
            return f"your code wrote more than {WRITE_BYTES >> 20} MB of files"
        return None


#: how often a learner's process that ended before it was told to start is started again
MAX_UNSTARTED = 3
RESULTS_MESSAGE = f"your code sent back more than {MAX_RESULT_BYTES >> 20} MB of results"


def _memory_message(memory_mb: int) -> str:
    return f"your code's processes together used more than {memory_mb} MB of memory (the memory limit)"


def _finish_run(run: dict, box: Sandbox, user: SandboxUser | None, why: str | None, memory_mb: int) -> str | None:
    """Once every process of the run has ended: its pipes read, its control group's verdict read and the group
    removed, and what it left on the machine removed (moved aside at once, deleted in the background)."""
    for drain in (run["results"], run["printed"]):
        drain.join(timeout=2.0)
    if why is None and run["results"].overflow:  # sent, then ended before the watch saw it
        why = RESULTS_MESSAGE
    group = run["group"]
    if group is not None:
        if why is None and group.oom_kills():
            why = _memory_message(memory_mb)
        group.close()
    if user is not None and not box.layers.bwrap:
        leftovers.clean_user(user.uid, box.shared_dirs(), box.trash)
    leftovers.by_path(box.trash.discard, run["work_dir"])
    return why


def _start_run(job_dir: Path, box: Sandbox, user: SandboxUser | None, budget: float, result_bytes: int,
               memory_mb: int) -> dict:
    """Start the child in a new control group (when the grader can make one); returns the run's state."""
    work_dir = job_dir.parent / "work"
    if not box.layers.bwrap:
        work_dir.mkdir(mode=0o700)
        if user:
            os.chown(work_dir, user.uid, user.gid)
    group = cgroups.JobGroup((memory_mb + CACHE_MB) << 20, MAX_PROCESSES + 2) if box.layers.cgroup else None
    out_r, out_w = os.pipe()
    print_r, print_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        proc, info_r = _launch(job_dir, work_dir, box, user, (out_w, print_w, go_r))
    except BaseException:
        for fd in (out_r, print_r, go_w):
            os.close(fd)
        if group is not None:
            group.close()
        raise
    finally:
        for fd in (out_w, print_w, go_r):
            os.close(fd)
    run = {"proc": proc, "group": group, "work_dir": work_dir, "namespace": None, "sandbox_pid": None, "go": go_w,
           "results": _Drain(out_r, result_bytes + (1 << 20)), "printed": _Drain(print_r, MAX_PRINTED)}
    run["results"].start()
    run["printed"].start()
    if info_r is not None:
        run["sandbox_pid"] = isolation.read_info(info_r, min(budget, 30.0)).get("child-pid")
        os.close(info_r)
        run["namespace"] = isolation.pid_namespace(run["sandbox_pid"]) if run["sandbox_pid"] else None
    return run


def _one_run(job_dir: Path, box: Sandbox, user: SandboxUser | None, budget: float, result_bytes: int,
             memory_mb: int) -> dict:
    """Start the child once and stop it (and all it started) when it ends, the budget is spent, or it uses
    too much memory, sends back more than ``result_bytes`` or writes too much; returns {"frames", "error"
    (protocol), "printed", "timed_out", "returncode", "why", "left", "unstarted" (it ended before the
    learner's code could start: nothing of the learner's ran)}."""
    run = _start_run(job_dir, box, user, budget, result_bytes, memory_mb)
    proc, group = run["proc"], run["group"]
    start, timed_out, why, unstarted = time.monotonic(), False, None, False
    try:
        try:
            _enter(proc, group, run["sandbox_pid"], run["namespace"], run["go"])
        except (ProcessLookupError, BrokenPipeError):  # gone before the word to start: the machine's doing
            unstarted = True
        watch = _Watch(box, user, run, memory_mb)
        while not unstarted and proc.poll() is None:
            if time.monotonic() - start > budget:
                timed_out = True
                break
            if run["results"].overflow:
                why = RESULTS_MESSAGE
                break
            why = watch.memory_problem() or watch.disk_problem()
            if why:
                break
            time.sleep(0.05)
    finally:
        # inside bubblewrap without the user layer the namespace and the group reach every process: no need
        # to look for those of its id of no one
        left = isolation.stop_all(proc, user=user if box.layers.user else None, namespace=run["namespace"],
                                  sandbox_pid=run["sandbox_pid"], group=group)
        isolation.track(proc.pid, False)
        why = _finish_run(run, box, user, why, memory_mb)
    if left:
        why = f"{len(left)} process(es) your code started could not be stopped"
    try:  # parsed in place (no copy of what came back); dropped with the run
        frames, error = protocol.parse(run["results"].data, result_bytes), None
    except protocol.ProtocolError as exc:
        frames, error = exc.frames, str(exc)
    return {"frames": frames, "error": error, "printed": bytes(run["printed"].data), "timed_out": timed_out,
            "returncode": proc.returncode, "why": why, "left": left, "unstarted": unstarted}


def run_cases(job_dir: Path, n_cases: int, box: Sandbox, user: SandboxUser | None, *,
              timeout: float) -> tuple[list[Outcome], dict]:
    """Run the cases of the prepared job (see :func:`write_job`) in the child; returns (one Outcome per case,
    info) where info has "import_error" (the error the module raised on import, or None), "refused" (the
    forbidden-call reading's refusal: {"error", "violations"}, or None), "stdout" (what
    the child printed, at most MAX_PRINTED bytes), "seconds", "problem" (why the run was cut short) and
    "stray" (processes that could not be stopped)."""
    box.prepare(user)  # before the clock starts: the first exercise of a grader may wait for its search
    start = time.monotonic()
    outcomes: list[Outcome | None] = [None] * n_cases
    info = {"import_error": None, "refused": None, "stdout": "", "seconds": 0.0, "problem": None, "stray": []}
    printed = b""
    job_file = job_dir / "job.json"
    job = json.loads(job_file.read_text())
    result_bytes = MAX_RESULT_BYTES  # for the whole exercise, however often its process is started again
    unstarted = 0
    while True:
        pending = [i for i, o in enumerate(outcomes) if o is None]
        remaining = timeout - (time.monotonic() - start)
        if not pending or remaining <= 0:
            break
        job["pending"] = pending
        job_file.chmod(0o644)
        job_file.write_text(json.dumps(job))
        run = _one_run(job_dir, box, user, remaining, result_bytes, job["memory_mb"])
        if run["unstarted"] and unstarted < MAX_UNSTARTED:  # no learner code ran: start it again
            unstarted += 1
            continue
        result_bytes -= sum(a.nbytes for frame in run["frames"] for a in frame["arrays"])
        printed = (printed + run["printed"])[:MAX_PRINTED]
        info["stray"] += run["left"]
        started = _collect(run, pending, outcomes, info)
        if info["import_error"] is not None or info["refused"] or run["why"] or run["error"] or run["timed_out"]:
            problem = run["why"] or (f"the results your code sent back are malformed: {run['error']}"
                                     if run["error"] else None)
            info["problem"] = info["problem"] or problem
            for i in pending if problem else started if run["timed_out"] else ():
                if outcomes[i] is None:
                    outcomes[i] = Outcome("value", value=Unreadable(problem)) if problem else Outcome("timeout")
            break
        if started:
            outcomes[started[0]] = Outcome("crashed", error={"returncode": run["returncode"]})
        elif any(outcomes[i] is None for i in pending):
            for i in pending:  # ended before starting a case (e.g. killed while importing): do not loop
                if outcomes[i] is None:
                    outcomes[i] = Outcome("crashed", error={"returncode": run["returncode"]})
            break
    info["stdout"] = printed[:MAX_PRINTED].decode("utf-8", "replace")
    info["seconds"] = time.monotonic() - start
    # a case left over was not run: after others used up the time, or before any started (a slow import)
    left_over = "not_run" if any(o is not None for o in outcomes) else "not_started"
    return [o if o is not None else Outcome(left_over) for o in outcomes], info


def _collect(run: dict, pending: list[int], outcomes: list, info: dict) -> list[int]:
    """Fill ``outcomes`` from one run's frames (the first result of a pending case counts); returns the cases
    started but not finished."""
    started = []
    for frame in run["frames"]:
        case = frame["case"]
        if frame["kind"] == "import_error":
            info["import_error"] = {k: frame["record"].get(k) for k in ("type", "message", "where")}
        elif frame["kind"] == "refused":
            info["refused"] = frame["record"]
        elif case in pending and outcomes[case] is None:
            if frame["kind"] == "started":
                started.append(case)
            else:
                outcomes[case] = _outcome(frame["record"], frame["arrays"])
    return [i for i in dict.fromkeys(started) if outcomes[i] is None]
