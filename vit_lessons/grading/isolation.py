"""The operating-system boundary around the learner's code: which layers are in force, and how a learner's
process is started and, at the end of each exercise, stopped with everything it started.

The layers, each detected at run time (:func:`choose`), printed by the grader and recorded in results.json:

- ``user``: when the grader runs as root, every learner process runs as a dedicated unprivileged user
  (``vitgrader0``, ``vitgrader1``, ...: one per exercise graded at the same time, created when missing,
  each held by one grader at a time through a lock file in a root-only folder, see :func:`sandbox_users`).
  Without bubblewrap, what the grader knows to be secret (the solutions, its own library with the hidden
  tests, the repository and its git objects) is made unreadable to those users and checked from their
  side before any learner code runs (inside bubblewrap it is not in their view at all, and nothing on the
  machine is changed).  At the end of each exercise every process of that user
  is killed (``kill(-1)`` as that user, then a scan of /proc) and none may be left before results are read;
  then what the user left on the machine (its System V IPC objects, its files in every world-writable
  folder) is removed (:mod:`.leftovers`), as it is before its first exercise.
  The user also bounds the number of processes (RLIMIT_NPROC counts per user).
- ``bwrap``: bubblewrap puts the learner's process in new PID, network, IPC, UTS and mount namespaces
  (``--die-with-parent``, ``--new-session``), with a read-only view of only the Python installation, the
  staged library and the copied submission, and a size-capped tmpfs as the only writable place.  Secrets
  never exist in that view; killing the namespace's first process kills everything in it.
- ``cgroup``: a control group per run of the learner's process (:mod:`.cgroups`) caps the memory and the
  processes of everything it starts together; without one, a watch adds their memory up.

Bubblewrap started as root makes no user namespace (as root it would map the learner to root outside);
every capability is dropped but CAP_SETUID/CAP_SETGID, and the child takes unprivileged ids before
reading anything: the sandbox user's, or without the user layer ids of no one (:func:`anonymous_ids`),
after which it holds no capability at all (bubblewrap sets no-new-privileges; the child checks
/proc/self/status).  In every layer the child then installs a seccomp filter that refuses new user
namespaces, memfd and System V IPC and POSIX message queues.  Run as root with neither layer
available, the grader refuses unless told ``--unsafe-no-sandbox``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import json
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroups

USER_PREFIX = "vitgrader"
BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
KILL = next((p for p in ("/usr/bin/kill", "/bin/kill") if os.path.exists(p)), "kill")
#: what is read-only bound into the sandbox besides the Python installation
SYSTEM_BINDS = ("/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/sys/devices/system/cpu")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
INSIDE_JOB = "/job"
INSIDE_WORK = "/tmp"


class SandboxUnavailable(RuntimeError):
    """The layers asked for cannot be had here (the message says which and why)."""


@dataclass(frozen=True)
class SandboxUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Layers:
    """Which layers are in force; ``notes`` say why one is missing or what was done to make it hold."""

    user: bool = False
    bwrap: bool = False
    notes: tuple[str, ...] = ()  # why a layer asked for is not in force
    changes: tuple[str, ...] = ()  # what was done to the machine to make the user layer hold
    cgroup: bool = False  # a control group per exercise (memory and processes of all its processes)

    def describe(self, changes: bool = True) -> str:
        """What is in force and why not the rest (and, with ``changes``, the permissions tightened)."""
        names = [n for n, on in (("unprivileged user", self.user), ("bubblewrap namespaces", self.bwrap),
                                 ("cgroup", self.cgroup)) if on]
        text = "Sandbox: " + (" + ".join(names) if names else "no operating-system boundary (in-process limits only)")
        return "\n".join([text, *(f"  {n}" for n in (*self.notes, *(self.changes if changes else ())))])


def is_root() -> bool:
    return os.geteuid() == 0


# ---- users -------------------------------------------------------------------------------------------------
def _create_user(name: str) -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise SandboxUnavailable(f"could not create the sandbox user {name}: {proc.stderr.strip()[:200]}")


def sandbox_users(count: int, *, claim: bool = False) -> list[SandboxUser]:
    """``count`` sandbox users ``vitgrader0`` ... (created as system users with their own group when missing).

    With ``claim``, the first ``count`` users that no other grader holds, each held (a lock) until
    :func:`release`: at the end of every exercise all processes of its user are killed, so two graders on
    one machine (two runs, a class and a single submission) must never share one.
    """
    users, held, i = [], [], 0
    try:
        while len(users) < count:
            name = f"{USER_PREFIX}{i}"
            i += 1
            if claim and not _claim(name):
                continue
            held.append(SandboxUser(name, -1, -1))
            try:
                pwd.getpwnam(name)
            except KeyError:
                _create_user(name)
            entry = pwd.getpwnam(name)
            if entry.pw_uid == 0 or entry.pw_gid == 0:
                raise SandboxUnavailable(f"the sandbox user {name} has uid or gid 0")
            users.append(SandboxUser(name, entry.pw_uid, entry.pw_gid))
    except BaseException:
        if claim:  # none of them is used: let other graders have them
            release(held)
        raise
    return users


#: the unprivileged ids the learner's process takes inside bubblewrap when no sandbox user is in force (as
#: root): unknown to the machine (no file, no process of theirs), one per exercise graded at the same time,
#: each held by one grader at a time like the sandbox users
ANONYMOUS_BASE = 2_000_000_000


def anonymous_ids(count: int) -> list[SandboxUser]:
    """``count`` ids ``ANONYMOUS_BASE + i`` (user and group), none of them a user or group of the machine,
    each held (see :func:`sandbox_users`) until :func:`release`."""
    import grp

    found, i = [], 0
    while len(found) < count and i < 10_000:
        ident, name = ANONYMOUS_BASE + i, f"{USER_PREFIX}-anon{i}"
        i += 1
        try:
            pwd.getpwuid(ident)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(ident)
            continue
        except KeyError:
            pass
        if _claim(name):
            found.append(SandboxUser(name, ident, ident))
    if len(found) < count:
        release(found)
        raise SandboxUnavailable("no free unprivileged id for the learner's process")
    return found


#: user name -> the open lock file by which this process holds it
_CLAIMED: dict[str, int] = {}
_CLAIM_LOCK = threading.Lock()
LOCKS = Path("/run" if os.path.isdir("/run") else tempfile.gettempdir()) / "vit_lessons_grader"


def _claim(name: str) -> bool:
    """Hold the sandbox user ``name`` for this grader (False when another grader, in this process or another,
    holds it).  The locks live in a folder only root may enter."""
    import fcntl

    with _CLAIM_LOCK:
        LOCKS.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(LOCKS)
        if info.st_uid != 0 or not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077:
            raise SandboxUnavailable(f"{LOCKS} is not a folder of root's alone: cannot hold the sandbox users")
        fd = os.open(LOCKS / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        _CLAIMED[name] = fd
        return True


def release(users: list[SandboxUser]) -> None:
    """Let other graders have these sandbox users again."""
    with _CLAIM_LOCK:
        for user in users:
            fd = _CLAIMED.pop(user.name, None)
            if fd is not None:
                os.close(fd)


def tighten(secrets: list[Path], users: list[SandboxUser]) -> list[str]:
    """Make every path of ``secrets`` unreadable and untraversable to the sandbox users (owner root, no
    permission for others or the users' groups); returns what was changed."""
    changed = []
    for path in secrets:
        if not path.exists():
            continue
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        new = mode & ~0o007
        if any(info.st_gid == u.gid for u in users):
            new &= ~0o070
        if any(info.st_uid == u.uid for u in users):
            os.chown(path, 0, 0)
            changed.append(f"{path}: owner set to root")
        if new != mode:
            path.chmod(new)
            changed.append(f"{path}: mode {mode:o} -> {new:o}")
    return changed


def probe(user: SandboxUser, readable: list[Path], secret: list[Path], passable: list[Path] = ()) -> str | None:
    """From the user's side: None when every path of ``readable`` can be read, every folder of
    ``passable`` can be passed through, and no path of ``secret`` can be read or passed through."""
    script = ('for p in "$@"; do case "$p" in +*) [ -r "${p#+}" ] || echo "cannot read ${p#+}";; '
              '%*) [ -x "${p#%}" ] || echo "cannot pass ${p#%}";; '
              '*) if [ -r "$p" ] || [ -x "$p" ]; then echo "can read $p"; fi;; esac; done')
    args = [f"+{p}" for p in readable] + [f"%{p}" for p in passable] + [str(p) for p in secret]
    try:
        proc = subprocess.run(["/bin/sh", "-c", script, "sh", *args], user=user.uid, group=user.gid,
                              extra_groups=[], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                              timeout=30, cwd="/")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the probe as {user.name} could not run ({exc})"
    problems = proc.stdout.strip().splitlines()
    return f"{user.name} {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") \
        if problems else None


# ---- bubblewrap --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap can make the namespaces here; else why not."""
    if not os.path.exists(BWRAP):
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    argv = [BWRAP, *namespace_options(), "--ro-bind", "/usr", "/usr", *_links(), "--proc", "/proc", "--dev", "/dev",
            "--size", str(1 << 20), "--tmpfs", "/tmp", "/usr/bin/true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start ({exc})"
    if proc.returncode != 0:
        return f"bubblewrap cannot make namespaces here: {proc.stderr.strip()[:200]}"
    return None


def namespace_options() -> list[str]:
    """The namespaces; as root, every capability dropped but the two the child needs to take its
    unprivileged ids (it then has none); not as root, a user namespace in which no other can be made."""
    caps = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if is_root() else \
        ["--unshare-user", "--disable-userns"] if _bwrap_knows("--disable-userns") else ["--unshare-user"]
    return ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox", *caps]


@functools.lru_cache(maxsize=8)
def _bwrap_knows(option: str) -> bool:
    try:
        return option in subprocess.run([BWRAP, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _links() -> list[str]:
    out = []
    for path in SYSTEM_LINKS:
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path) and not path.startswith("/usr"):
            out += ["--ro-bind", path, path]
    return out


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def bwrap_argv(job_dir: Path, python_roots: list[Path], masks: list[Path], work_bytes: int, *,
               drop_to: SandboxUser | None, info_fd: int) -> list[str]:
    """The bubblewrap command line up to (not including) the command: binds, masks, tmpfs, namespaces."""
    argv = [BWRAP, *namespace_options(), "--info-fd", str(info_fd)]
    bound = []
    for path in [*SYSTEM_BINDS, *python_roots]:
        path = Path(path)
        if path.exists() and not any(_under(path, b) for b in bound):
            bound.append(path)
    # bubblewrap makes missing parent folders 0700 (root's): the sandbox user must be able to pass them
    for parent in sorted({a for b in bound for a in b.parents if a != Path("/")}, key=lambda a: len(a.parts)):
        argv += ["--perms", "0755", "--dir", str(parent)]
    for path in bound:
        argv += ["--ro-bind", str(path), str(path)]
    argv += _links()
    for mask in masks:  # a secret inside a bound folder (a repository inside the Python installation ...)
        if mask.exists() and any(_under(mask, b) for b in bound):
            argv += ["--ro-bind", "/dev/null", str(mask)] if mask.is_file() else ["--tmpfs", str(mask),
                                                                                  "--remount-ro", str(mask)]
    argv += ["--ro-bind", str(job_dir), INSIDE_JOB, "--ro-bind", str(job_dir / "etc" / "passwd"), "/etc/passwd",
             "--ro-bind", str(job_dir / "etc" / "group"), "/etc/group", "--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(work_bytes), "--tmpfs", INSIDE_WORK, "--chdir", INSIDE_WORK,
             # the sandbox's own root and /dev are tmpfs too: read-only, so that the capped tmpfs is the only
             # writable place
             "--remount-ro", "/", "--remount-ro", "/dev"]
    if is_root() and drop_to is None:
        raise SandboxUnavailable("as root, the learner's process inside bubblewrap needs unprivileged ids")
    return argv


def package_dirs(names: list[str]) -> list[Path]:
    """Where the installed top-level packages ``names`` lie (found without importing them), for bubblewrap to
    hide from an exercise that may not use them at all (exercise 10's torch): the import blocker in the
    learner's process says so first, and with the blocker taken out the package is not there either."""
    found = []
    for name in names:
        if "." in name:  # a module of an allowed package (scipy.signal): its package stays, the blocker refuses it
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            found += [Path(p) for p in spec.submodule_search_locations]
        elif spec is not None and spec.origin and Path(spec.origin).is_file():
            found.append(Path(spec.origin))
    return found


def write_identity_files(job_dir: Path, user: SandboxUser | None) -> None:
    """/etc/passwd and /etc/group of the sandbox: root, nobody and the sandbox user, nothing else."""
    etc = job_dir / "etc"
    etc.mkdir(mode=0o755)
    users = [("root", 0, 0), ("nobody", 65534, 65534)] + ([(user.name, user.uid, user.gid)] if user else [])
    (etc / "passwd").write_text("".join(f"{n}:x:{u}:{g}::{INSIDE_WORK}:/usr/sbin/nologin\n" for n, u, g in users))
    (etc / "group").write_text("".join(f"{n}:x:{g}:\n" for n, _, g in users))


def read_info(fd: int, timeout: float) -> dict:
    """bubblewrap's --info-fd JSON ({"child-pid": N, ...}); {} when it wrote none in time."""
    data, deadline = b"", time.monotonic() + timeout
    poller = select.poll()  # not select.select: it refuses descriptors past 1023, which many jobs at a time reach
    poller.register(fd, select.POLLIN)
    while time.monotonic() < deadline and len(data) < 65536:
        if not poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        try:
            return json.loads(data)
        except ValueError:
            continue
    return {}


# ---- stopping everything -----------------------------------------------------------------------------------
_OURS: set[int] = set()
_OURS_LOCK = threading.Lock()


def track(pid: int, alive: bool) -> None:
    """Register (or forget) a process this grader waits for itself, so that reaping orphans never takes it."""
    with _OURS_LOCK:
        (_OURS.add if alive else _OURS.discard)(pid)


def become_subreaper() -> None:
    """Orphans of the learner's processes come to this process (and are reaped here), not to PID 1, which
    may never reap them (their zombies would count against the sandbox user's process limit)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _status(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    except OSError:
        return {}


def _live_status(status: dict[str, str]) -> bool:
    return bool(status) and not status.get("State", "").strip().startswith(("Z", "X"))


def _live(pid: int | str) -> bool:
    return _live_status(_status(str(pid)))


def pid_namespace(pid: int | str) -> str | None:
    """The PID namespace of ``pid`` ("pid:[4026531836]"), or None when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def descendants(pid: int) -> list[int] | None:
    """The processes ``pid`` started and those they started (from /proc's lists of children); None when the
    kernel keeps no such list."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except FileNotFoundError:
                return None
            except OSError:
                continue
            found += children
            todo += children
    return found


def processes(*, uid: int | None = None, namespace: str | None = None) -> list[int]:
    """Live (not zombie) processes of ``uid`` (real, effective or saved) or in the PID ``namespace``."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        status = _status(pid)
        if not _live_status(status):
            continue
        ids = status.get("Uid", "").split()[:3]
        if (uid is not None and str(uid) in ids) or (namespace is not None and pid_namespace(pid) == namespace):
            found.append(int(pid))
    return found


def reap_orphans() -> None:
    """Reap the zombies that were handed to this process (see :func:`become_subreaper`)."""
    me = str(os.getpid())
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        status = _status(pid)
        if status.get("PPid", "").strip() == me and status.get("State", "").strip().startswith("Z"):
            with _OURS_LOCK:
                if int(pid) in _OURS:
                    continue
            try:
                os.waitpid(int(pid), os.WNOHANG)
            except ChildProcessError:
                pass


def kill_user(user: SandboxUser) -> None:
    """SIGKILL to every process of ``user`` (``kill -1`` as that user: nothing else is reached)."""
    subprocess.run([KILL, "-KILL", "-1"], user=user.uid, group=user.gid, extra_groups=[], env={},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", timeout=30)


def stop_all(proc: subprocess.Popen, *, user: SandboxUser | None, namespace: str | None,
             sandbox_pid: int | None, group=None, patience: float = 5.0) -> list[int]:
    """Kill the learner's process and everything it started (its user's processes, its PID namespace, its
    control group ``group``); returns the pids still alive (should be []).

    The namespace is reached through its first process ``sandbox_pid``, and only while that number is still
    the namespace's: when the first process of a PID namespace ends, the kernel kills every other in it,
    and both the number and the namespace's name ("pid:[4026532177]") are then free for another sandbox's
    (one started beside this one, by the same grader, was killed so)."""
    ours = namespace is not None and sandbox_pid is not None and pid_namespace(sandbox_pid) == namespace
    for pid in ([sandbox_pid] if ours else []) + [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + patience
    while True:
        if user is not None:
            kill_user(user)
        ours = ours and pid_namespace(sandbox_pid) == namespace
        left = (processes(uid=user.uid) if user is not None else []) + \
               (processes(namespace=namespace) if ours else []) + \
               [p for p in (group.pids() if group is not None else []) if _live(p)]
        if not left or time.monotonic() > deadline:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    proc.wait()
    if user is not None:  # only then is this process a subreaper (see Sandbox.create)
        reap_orphans()
    return sorted(set(left))


# ---- choosing ------------------------------------------------------------------------------------------------
def _user_layer(slots: int, secrets: list[Path], python_roots: list[Path], *, with_bwrap: bool):
    """(sandbox users, why the layer cannot hold or None, what was changed).  Inside bubblewrap the secrets
    are not in the learner's view at all, so nothing is changed; alone, the secrets are made unreadable
    to the users and both that and their access to Python are checked from their side."""
    if not is_root():
        return [], "the grader does not run as root", []
    try:
        users = sandbox_users(max(1, slots), claim=True)
    except SandboxUnavailable as exc:
        return [], str(exc), []
    if with_bwrap:
        return users, None, []
    changes = [f"made unreadable to the sandbox users: {c}" for c in tighten(secrets, users)]
    problem = next(filter(None, (probe(u, [Path(sys.executable), *python_roots], secrets) for u in users)), None)
    if problem and any(problem.startswith(f"{u.name} cannot read") for u in users):
        problem += (": without bubblewrap the sandbox users must reach the Python installation (python -m "
                    "vit_lessons.grading.provision --slots N grants it to the first N users; graders running at "
                    "the same time hold different users)")
    return users, problem, changes


def choose(requested: str, *, unsafe: bool, slots: int, secrets: list[Path], python_roots: list[Path]) -> tuple[
        Layers, list[SandboxUser]]:
    """The layers to grade with: ``requested`` is "auto" (every layer available here), "none", or a
    comma-separated list of "user" and "bwrap" (each required).  Returns (layers, sandbox users)."""
    wanted = {"auto": {"user", "bwrap"}, "none": set()}.get(requested, set(requested.split(",")))
    unknown = wanted - {"user", "bwrap"}
    if unknown:
        raise ValueError(f"--sandbox {requested!r}: expected auto, none or a comma-separated list of user, bwrap")
    notes, changes, users, user_ok, bwrap_ok = [], [], [], False, False
    if "bwrap" in wanted:
        problem = bwrap_problem()
        bwrap_ok = problem is None
        if problem:
            notes.append(f"bubblewrap: not in force: {problem}")
    if "user" in wanted:
        users, problem, changes = _user_layer(slots, secrets, python_roots, with_bwrap=bwrap_ok)
        user_ok = problem is None
        if problem:
            notes.append(f"unprivileged user: not in force: {problem}")
    if not user_ok:
        release(users)
    if requested not in ("auto", "none") and (("user" in wanted and not user_ok) or ("bwrap" in wanted and
                                                                                      not bwrap_ok)):
        release(users)
        raise SandboxUnavailable(f"--sandbox {requested}: {'; '.join(notes)}")
    if is_root() and not (user_ok or bwrap_ok) and not unsafe:
        raise SandboxUnavailable("refusing to run learners' code as root without an operating-system boundary "
                                 f"({'; '.join(notes) or 'no layer asked for'}); install bubblewrap, or pass "
                                 "--unsafe-no-sandbox to grade anyway")
    cgroup_ok = (user_ok or bwrap_ok) and cgroups.problem() is None
    if (user_ok or bwrap_ok) and not cgroup_ok:
        notes.append(f"cgroup: not in force: {cgroups.problem()}; the memory of the learner's processes is added "
                     f"up every 50 ms instead")
    layers = Layers(user=user_ok, bwrap=bwrap_ok, notes=tuple(notes), changes=tuple(changes), cgroup=cgroup_ok)
    if user_ok:
        return layers, users
    # as root inside bubblewrap without sandbox users: ids of no one, never root
    return layers, (anonymous_ids(max(1, slots)) if bwrap_ok and is_root() else [])
