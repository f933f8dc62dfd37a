"""What a learner's processes leave behind on the machine, measured while they run and removed after.

Without bubblewrap (whose private tmpfs and IPC namespace vanish with the sandbox), the sandbox user can
write in every folder that anyone may write in (``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock``, and
whatever other world-writable folders the machine has: :func:`writable_dirs` finds them once per
grader) and can make System V IPC objects (shared memory, semaphores, message queues) that outlive every
process.  A later learner graded as the same user would find them: :func:`clean_user` removes all of it,
before a user's first exercise and after each.

:func:`usage` measures a folder tree (bytes of files and folders, and the number of entries, however
deep, without following links or recursing in Python) and stops counting past a limit, so that a watch
over millions of entries costs no more than one over the limit; :func:`remove` deletes a tree of any
depth or size without recursion (folders are moved up, then emptied one at a time), and :class:`Trash`
moves a tree aside at once and deletes it in the background.
"""

from __future__ import annotations

import ctypes
import os
import queue
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
SKIP = ("/proc", "/sys")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
IPC_RMID = 0
#: /proc/sysvipc file -> (column of the id, the call that removes one)
IPC_KINDS = {"shm": ("shmid", "shmctl"), "sem": ("semid", "semctl"), "msg": ("msqid", "msgctl")}


@dataclass
class Usage:
    """What a watched tree holds: ``bytes`` (blocks of files and folders), ``entries`` and ``deep`` (a
    folder deeper than allowed was found); counting stops once ``entries`` passes the limit."""

    bytes: int = 0
    entries: int = 0
    deep: bool = False


def _walk(fd: int, use: Usage, limit: int, depth: int) -> None:
    """Add what the folder ``fd`` holds to ``use``, depth first with a stack of open folders (at most
    ``depth`` deep: deeper sets ``use.deep``); stops past ``limit`` entries.  Closes nothing of ``fd``."""
    stack = [(fd, os.scandir(fd))]
    try:
        while stack and use.entries <= limit and not use.deep:
            entry = next(stack[-1][1], None)
            if entry is None:
                folder, it = stack.pop()
                it.close()
                if folder != fd:
                    os.close(folder)
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            use.entries += 1
            use.bytes += info.st_blocks * 512
            if stat.S_ISDIR(info.st_mode):
                if len(stack) >= depth:
                    use.deep = True
                    break
                try:
                    child = os.open(entry.name, DIR_FLAGS, dir_fd=stack[-1][0])
                except OSError:
                    continue
                stack.append((child, os.scandir(child)))
    finally:
        for folder, it in stack:
            it.close()
            if folder != fd:
                os.close(folder)


def _owned(fd: int, uid: int) -> list[tuple[str, os.stat_result]]:
    """(name, lstat) of the entries of the folder ``fd`` that ``uid`` owns."""
    found = []
    with os.scandir(fd) as it:
        for entry in it:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                found.append((entry.name, info))
    return found


def _measure(fd: int, name: str | None, info, use: Usage, limit: int, depth: int) -> None:
    """Add the folder ``fd`` (``name`` None) or its entry ``name`` (of lstat ``info``) to ``use``."""
    if name is not None:
        use.entries += 1
        use.bytes += info.st_blocks * 512
        if not stat.S_ISDIR(info.st_mode):
            return
        fd = os.open(name, DIR_FLAGS, dir_fd=fd)
    try:
        _walk(fd, use, limit, depth)
    finally:
        if name is not None:
            os.close(fd)


def usage(folders: list[str], owned_in: list[str], uid: int | None, limit: int, depth: int) -> Usage:
    """What the trees ``folders`` hold, and what the entries owned by ``uid`` in the folders ``owned_in``
    hold (each entry with everything below it); counting stops past ``limit`` entries."""
    use = Usage()
    tops = [(t, False) for t in folders] + [(t, True) for t in (owned_in if uid is not None else ())]
    for top, owned in tops:
        try:
            fd = os.open(top, DIR_FLAGS)
        except OSError:
            continue
        try:
            for name, info in _owned(fd, uid) if owned else [(None, None)]:
                if use.entries > limit or use.deep:
                    break
                try:
                    _measure(fd, name, info, use, limit, depth - owned)
                except OSError:
                    continue
        finally:
            os.close(fd)
    return use


def _empty(parent: int, name: str) -> list[str]:
    """Delete ``name`` of the folder ``parent`` (an fd): a file at once; a folder after its files are deleted
    and its sub-folders moved up into ``parent`` under new, unguessable names, which are returned (each to
    be deleted the same way: no path grows, nothing recurses).  Errors are ignored (what is left is left)."""
    moved: list[str] = []
    try:
        if not stat.S_ISDIR(os.lstat(name, dir_fd=parent).st_mode):
            os.unlink(name, dir_fd=parent)
            return moved
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError:
        return moved
    try:
        for _ in range(3):  # a folder changed while it is read may hide entries from one pass
            with os.scandir(fd) as it:
                names = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            for child, is_dir in names:
                fresh = f".vit-rm-{secrets.token_hex(8)}"
                if not is_dir:
                    _quietly(os.unlink, child, dir_fd=fd)
                elif _quietly(os.rename, child, fresh, src_dir_fd=fd, dst_dir_fd=parent):
                    moved.append(fresh)
            if not names:
                break
    finally:
        os.close(fd)
    _quietly(os.rmdir, name, dir_fd=parent)
    return moved


def remove(parent: int, name: str) -> None:
    """Delete ``name`` in the folder ``parent`` (an fd) with everything below it, however deep or large,
    without recursion (see :func:`_empty`).  Nothing may be writing there any more."""
    pending = [name]
    while pending:
        pending += _empty(parent, pending.pop())


def _quietly(call, *args, **kwargs) -> bool:
    try:
        call(*args, **kwargs)
    except OSError:
        return False
    return True


def by_path(call, path: str | Path) -> None:
    """``call(parent fd, name)`` (:func:`remove`, :meth:`Trash.discard`) for ``path``."""
    path = Path(path)
    try:
        parent = os.open(path.parent, DIR_FLAGS)
    except OSError:
        return
    try:
        call(parent, path.name)
    finally:
        os.close(parent)


# ---- the machine's shared places --------------------------------------------------------------------------------
def _passable(info: os.stat_result, path: str, gids: set[int]) -> bool:
    """Whether a sandbox user (of group ``gids``) may pass the folder: others may, its group is theirs, or
    an ACL may grant it (then it is walked too)."""
    if info.st_mode & 0o001 or (info.st_gid in gids and info.st_mode & 0o010):
        return True
    try:
        return bool(os.getxattr(path, "system.posix_acl_access", follow_symlinks=False))
    except OSError:
        return False


def writable_dirs(gids: set[int], max_dirs: int = 300_000, seconds: float = 20.0) -> tuple[list[str], bool]:
    """(the folders a sandbox user may write in, found by a walk from / that skips /proc and /sys and the
    folders they cannot pass; whether the walk was complete).  Always includes SHARED_TMP's folders."""
    found = {p for p in SHARED_TMP if os.path.isdir(p)}
    stack, seen, deadline = ["/"], 0, time.monotonic() + seconds
    while stack:
        seen += 1
        if seen > max_dirs or time.monotonic() > deadline:
            return sorted(found), False
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    if entry.path in SKIP or not entry.is_dir(follow_symlinks=False):
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_mode & 0o002 or (info.st_gid in gids and info.st_mode & 0o020):
                    found.add(entry.path)
                if _passable(info, entry.path, gids):
                    stack.append(entry.path)
    return sorted(found), True


def remove_ipc(uid: int) -> int:
    """Remove every System V IPC object (shared memory, semaphores, message queues) that ``uid`` owns or
    made; returns how many."""
    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for kind, (column, call) in IPC_KINDS.items():
        try:
            rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        names = rows[0].split() if rows else []
        for row in rows[1:]:
            entry = dict(zip(names, row.split(), strict=False))
            if str(uid) not in (entry.get("uid"), entry.get("cuid")):
                continue
            ident = int(entry[column])
            result = libc.semctl(ident, 0, IPC_RMID) if kind == "sem" else \
                getattr(libc, call)(ident, IPC_RMID, None)
            removed += result == 0
    return removed


def clean_user(uid: int, folders: list[str], trash: Trash | None = None) -> None:
    """Remove what ``uid`` (whose processes have all ended) left: its System V IPC objects, and its entries in
    ``folders`` (the machine's shared writable folders) with everything below them (into ``trash``)."""
    remove_ipc(uid)
    for top in folders:
        try:
            fd = os.open(top, DIR_FLAGS)
        except OSError:
            continue
        try:
            for name, _ in _owned(fd, uid):
                if trash is not None:
                    trash.discard(fd, name)
                else:
                    remove(fd, name)
        finally:
            os.close(fd)


class Trash:
    """Where a learner's trees go when an exercise ends: moved (one rename, however large the tree) into a
    folder of root's alone on the same filesystem, and deleted there by background threads, so that an
    exercise ends on time whatever it wrote (deleting is slow on some disks: a few ms per folder where freed
    blocks are discarded; several threads overlap the waits).  :meth:`close` waits until all is deleted."""

    WORKERS = 8

    def __init__(self, homes: list[str]):
        self._homes = list(homes)  # folders where a trash folder may be made, one per filesystem
        self._folders: dict[int, tuple[int, str]] = {}  # device -> (fd, path) of its trash folder
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []  # started with the first tree discarded

    def add_homes(self, homes: list[str]) -> None:
        with self._lock:
            self._homes += [h for h in homes if h not in self._homes]

    def _folder(self, device: int) -> int | None:
        with self._lock:
            if device not in self._folders:
                home = next((h for h in self._homes if _device(h) == device), None)
                if home is None:
                    return None
                path = os.path.join(home, f".vit_lessons-trash-{os.getpid()}-{secrets.token_hex(4)}")
                os.mkdir(path, 0o700)
                self._folders[device] = (os.open(path, DIR_FLAGS), path)
            return self._folders[device][0]

    def discard(self, parent: int, name: str) -> None:
        """Move ``name`` of the folder ``parent`` (an fd) to the trash (deleted in place when no trash
        folder can be had on its filesystem)."""
        try:
            folder = self._folder(os.lstat(name, dir_fd=parent).st_dev)
        except OSError:
            return
        moved = secrets.token_hex(8)
        if folder is not None and _quietly(os.rename, name, moved, src_dir_fd=parent, dst_dir_fd=folder):
            with self._lock:
                while len(self._threads) < self.WORKERS:
                    self._threads.append(threading.Thread(target=self._work, daemon=True))
                    self._threads[-1].start()
            self._queue.put((folder, moved))
        else:
            remove(parent, name)

    def _work(self) -> None:
        while True:
            folder, name = self._queue.get()
            try:
                if folder is None:
                    return
                for moved in _empty(folder, name):
                    self._queue.put((folder, moved))
            finally:
                self._queue.task_done()

    def close(self) -> None:
        """Wait until everything discarded is deleted; remove the trash folders."""
        self._queue.join()
        for _ in self._threads:
            self._queue.put((None, None))
        for thread in self._threads:
            thread.join()
        with self._lock:
            for fd, path in self._folders.values():
                os.close(fd)
                _quietly(os.rmdir, path)
            self._folders.clear()


def _device(path: str) -> int | None:
    try:
        return os.lstat(path).st_dev
    except OSError:
        return None
