"""The memory and the processes of one exercise, capped together: a control group per run of the learner's
process, or (where the grader cannot make one) a watch over what its processes hold.

:func:`problem` says whether control groups can be had here (cgroup v1 with the ``memory`` and ``pids``
controllers, or cgroup v2 with both enabled below the grader's own group); :class:`JobGroup` is one
group, made below the grader's own (so that the grader's own limits still hold over it), with a
``pids`` limit and a ``memory`` limit (RAM and swap, page cache and kernel memory included) a little
above the exercise's, as a backstop; the learner's process is put in it before it runs any code (it
waits for the grader's word, see ``_child.py``), so everything it starts is in it.  The grader stops
the exercise when the anonymous and shared memory of the group (:meth:`JobGroup.anonymous_bytes`,
polled every 50 ms) passes the exercise's limit, or when the kernel kills one of its processes for
memory.  (A limit on the page cache too would make a process near it re-read its own code from disk
for as long as it runs, rather than fail.)

Without control groups, :func:`memory_of` adds up the anonymous and shared memory of the learner's
processes (and the System V shared memory of the sandbox user) every 50 ms, and the grader stops the
exercise above the same limit.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from pathlib import Path

PREFIX = "vit_lessons-"
_COUNTER = itertools.count()


def _mounts() -> dict[str, Path]:
    """Controller ("memory", "pids", or "" for cgroup v2) -> where its hierarchy is mounted."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[2] == "cgroup2":
            found.setdefault("", Path(parts[1]))
        elif parts[2] == "cgroup":
            for option in parts[3].split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, Path(parts[1]))
    return found


def _own() -> dict[str, str]:
    """Controller ("memory", "pids", "" for v2) -> the grader's own group in that hierarchy."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path.lstrip("/")
    return own


def _v2_base(mounts: dict, own: dict) -> Path:
    """The grader's own v2 group, with memory and pids enabled for the groups below it."""
    base = mounts[""] / own[""]
    if not {"memory", "pids"} <= set((base / "cgroup.controllers").read_text().split()):
        raise OSError("the memory and pids controllers are not available in the grader's cgroup v2 group")
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    if not {"memory", "pids"} <= enabled:  # refused while the group holds processes (cgroup v2's rule)
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    return base


@functools.lru_cache(maxsize=1)
def bases() -> tuple[dict[str, Path], str | None]:
    """({"memory": folder, "pids": folder} (v1) or {"v2": folder}, None), or ({}, why control groups
    cannot be had here).  Groups are made in these folders; a probe group is made and removed."""
    if os.geteuid() != 0:
        return {}, "the grader does not run as root"
    try:
        mounts, own = _mounts(), _own()
        if "memory" in mounts and "pids" in mounts and "memory" in own and "pids" in own:
            found = {c: mounts[c] / own[c] for c in ("memory", "pids")}
        elif "" in mounts and "" in own:
            found = {"v2": _v2_base(mounts, own)}
        else:
            return {}, "no cgroup hierarchy with the memory and pids controllers is mounted"
        probe = JobGroup(1 << 30, 8, found)
        probe.close()
    except OSError as exc:
        return {}, f"cannot make a control group here ({exc.strerror or exc})"
    return found, None


def problem() -> str | None:
    """None when every exercise gets its own control group; else why not."""
    return bases()[1]


class JobGroup:
    """One control group: ``memory_bytes`` of memory (RAM, swap and kernel memory) and ``processes``
    processes and threads, for everything in it together."""

    def __init__(self, memory_bytes: int, processes: int, where: dict[str, Path] | None = None):
        where = where if where is not None else bases()[0]
        name = f"{PREFIX}{os.getpid()}-{next(_COUNTER)}"
        self.folders = [base / name for base in where.values()]
        self.v2 = "v2" in where
        for folder in self.folders:
            folder.mkdir()
        try:
            self._limit(memory_bytes, processes)
        except OSError:
            self.close()
            raise

    def _limit(self, memory_bytes: int, processes: int) -> None:
        files = ({"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": processes} if self.v2 else
                 {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes": memory_bytes,
                  "pids.max": processes})
        for name, value in files.items():
            folder = next((f for f in self.folders if (f / name).exists()), None)
            if folder is None and name in ("memory.swap.max", "memory.memsw.limit_in_bytes"):
                continue  # no swap accounting: nothing to limit
            if folder is None:
                raise OSError(f"{name} is missing")
            (folder / name).write_text(str(value))

    def add(self, pid: int) -> None:
        """Put process ``pid`` in the group (what it starts from now on is in it too)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this group for memory."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for folder in self.folders:
            try:
                lines = (folder / name).read_text().splitlines()
            except OSError:
                continue
            fields = dict(line.split(None, 1) for line in lines if " " in line)
            return int(fields.get("oom_kill", fields.get("under_oom", "0")))
        return 0

    def anonymous_bytes(self) -> int:
        """The anonymous and shared memory of the group's processes (what :func:`memory_of` adds up; the
        group's own limit also counts the page cache of the files they read, and kernel memory)."""
        for folder in self.folders:
            try:
                lines = (folder / "memory.stat").read_text().splitlines()
            except OSError:
                continue
            fields = dict(line.split(None, 1) for line in lines if " " in line)
            keys = ("anon", "shmem") if self.v2 else ("rss", "shmem")
            return sum(int(fields.get(k, "0")) for k in keys)
        return 0

    def pids(self) -> list[int]:
        """The processes in the group now."""
        found = set()
        for folder in self.folders:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                continue
        return sorted(found)

    def close(self) -> None:
        """Remove the group (its processes must have ended; a few attempts while the last ones are reaped)."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def memory_of(pids: list[int], uid: int | None = None) -> int:
    """Bytes of anonymous and shared memory the processes ``pids`` hold, and (with ``uid``) the System V
    shared memory that user owns or made: the fallback of a group's memory limit."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(("RssAnon:", "RssShmem:")):
                        total += int(line.split()[1]) << 10
        except (OSError, ValueError):
            continue
    if uid is not None:
        try:
            rows = Path("/proc/sysvipc/shm").read_text().splitlines()
        except OSError:
            rows = []
        names = rows[0].split() if rows else []
        for row in rows[1:]:
            entry = dict(zip(names, row.split(), strict=False))
            if str(uid) in (entry.get("uid"), entry.get("cuid")):
                total += int(entry.get("rss", entry.get("size", "0")))
    return total
