"""What the learner's process may read, copied into the exercise's job folder: the submission and the library.

- :func:`copy_submission`: only regular files named like Python modules (``exNN_*.py`` and helper
  ``.py`` files beside them), at most ``MAX_FILE_BYTES`` each, with one link; read through
  ``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat``, so a symbolic link, a hard link to
  another file, a device or a FIFO is refused with a reason and never read.  What was checked is what
  runs: the forbidden-call check reads the copies.
- :func:`stage_library`: the ``vit_lessons`` package without the grader (``grading/``, ``grade.py``,
  ``release.py``, their compiled files; ``grading/`` is a stub whose ``check`` says that the self-check
  does not run inside the grader, so that a file calling it under ``if __name__ == "__main__":``
  imports) and with every function the exercise forbids rewritten at its definition to raise
  ``PermissionError("vit_lessons.forward is not allowed in exercise 7: write it yourself ...")``.  The
  originals do not exist in the learner's process, so no alias, ``vars()``, ``sys.modules``, ``gc`` walk
  or library function that composes them (``vit_lessons.interpret.attention_gradients``) reaches them.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import threading
from pathlib import Path

import vit_lessons

LIBRARY_DIR = Path(vit_lessons.__file__).resolve().parent
MAX_FILE_BYTES = 1_000_000
MAX_FILES = 64
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}\.py$")
#: two exercises are staged at the same time, and CPython 3.11's ast.parse, whose recursion counter is shared,
#: can fail when two threads parse at once ("SystemError: AST constructor recursion depth mismatch")
_PARSE_LOCK = threading.Lock()
#: never staged: the grader (its hidden tests and reference computations) and the instructor's commands
GRADER_PARTS = ("grading", "grade.py", "release.py")
#: what the learner's library has in the grader's place: the self-check's name, which does nothing there
GRADER_STUB = '''"""The self-check of the learner's library as the grader stages it: a stub (the grader is not here)."""


def check(name=None, submission=None, timeout=None):
    """Say that the self-check does not run inside the grader; return None."""
    print("vit_lessons.grading.check: the self-check does not run inside the grader")
'''


def _read_regular(folder_fd: int, name: str) -> bytes:
    """The bytes of ``name`` in the folder ``folder_fd``; ValueError saying why it is not a plain file."""
    info = os.lstat(name, dir_fd=folder_fd)
    if stat.S_ISLNK(info.st_mode):
        raise ValueError("a symbolic link, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_nlink != 1:
        raise ValueError("a hard link to another file")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{info.st_size} bytes (at most {MAX_FILE_BYTES})")
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino) or not stat.S_ISREG(now.st_mode):
            raise ValueError("replaced while it was being read")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"more than {MAX_FILE_BYTES} bytes")
    return data


def copy_submission(source: Path, target: Path) -> dict[str, str]:
    """Copy the submission's Python files from ``source`` into the new folder ``target``.

    Returns {file name: why it was refused} for the ``.py`` entries not copied (other files are ignored).
    """
    target.mkdir(mode=0o755)
    refused: dict[str, str] = {}
    folder_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        names = sorted((n for n in os.listdir(folder_fd) if n.endswith(".py")), key=lambda n: (n[:2] != "ex", n))
        for count, name in enumerate(names):
            if not MODULE_NAME.match(name):
                shown = ascii(name[:120])[1:-1]  # printable whatever bytes the name holds
                refused[shown] = "not a Python module name (letters, digits and _ only)"
                continue
            if count >= MAX_FILES:
                refused[name] = f"more than {MAX_FILES} Python files in the submission"
                continue
            try:
                data = _read_regular(folder_fd, name)
            except (OSError, ValueError) as exc:
                refused[name] = str(exc) if isinstance(exc, ValueError) else f"unreadable ({exc.strerror})"
                continue
            fd = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
    finally:
        os.close(folder_fd)
    return refused


# ---- where a missing exercise file is -------------------------------------------------------------------------
#: how deep and how wide :func:`misplaced` looks: a submission may hold many files (it reads names only)
LOOK_DEPTH = 3
LOOK_ENTRIES = 2000
#: what makes a name a copy of another: a browser's " (1)", an editor's " copy"
_COPY = re.compile(r"(\s*\(\d+\)|[\s_-]+copy(\s*\d+)?)$")


def _same_exercise(name: str) -> str | None:
    """The normalised stem of ``name`` when it is a Python file or a notebook, else None: small letters,
    spaces and dashes as ``_``, a copy's suffix dropped, the exercise number without its leading zeros
    (``Ex01_Patchify (1).py`` and ``ex1_patchify.py`` both give ``ex1_patchify``)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix.lower() not in ("py", "ipynb"):
        return None
    stem = re.sub(r"[\s-]+", "_", _COPY.sub("", stem.strip().lower()))
    return re.sub(r"^ex_?0*(\d+)_+", r"ex\1_", stem)


def _walk(folder_fd: int, prefix: str, depth: int, budget: list[int]):
    """(relative path, depth) of every regular file under ``folder_fd``, breadth first within a folder,
    ``depth`` levels down at most, ``budget[0]`` entries in all; never follows a symbolic link."""
    folders = []
    with os.scandir(folder_fd) as entries:
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0:
                return
            if entry.name.startswith(".") or entry.name == "__MACOSX" or entry.is_symlink():
                continue
            if entry.is_file(follow_symlinks=False):
                yield prefix + entry.name, depth
            elif entry.is_dir(follow_symlinks=False) and depth < LOOK_DEPTH:
                folders.append(entry.name)
    for name in sorted(folders):
        if budget[0] <= 0:
            return
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
        try:
            yield from _walk(fd, f"{prefix}{name}/", depth + 1, budget)
        finally:
            os.close(fd)


def misplaced(source: Path, file: str) -> str:
    """What the submission ``source`` holds in place of the missing ``file`` (e.g. ``ex01_patchify.py``) and
    what to do: the file in a folder, a notebook of it, or a name that differs in case or by a copy's
    suffix ("found HW1/ex01_patchify.py in a folder: submit the files themselves, not their folder"); ""
    when nothing like it is there.  Reads names only (never a file's bytes), follows no symbolic link, looks
    :data:`LOOK_DEPTH` folders down and at :data:`LOOK_ENTRIES` entries at most; any error gives ""."""
    want = _same_exercise(file)
    try:
        fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            found = [(depth, path.rpartition("/")[2] != file, path.endswith(".ipynb"), path)
                     for path, depth in _walk(fd, "", 0, [LOOK_ENTRIES])
                     if _same_exercise(path.rpartition("/")[2]) == want]
        finally:
            os.close(fd)
    except (OSError, RecursionError):
        return ""
    if not found:
        return ""
    depth, renamed, notebook, path = min(found)
    shown = ascii(path[:200])[1:-1]
    todo = []
    if notebook:
        todo.append(f"the grader grades the Python file {file} (File > Download as > Python, or copy your "
                    f"functions into it)")
    elif renamed:
        todo.append(f"name it {file} exactly (the grader looks for that name, in small letters)")
    if depth:
        todo.append("submit the files themselves, not their folder")
    return f"found {shown}{' in a folder' if depth else ''}: {'; '.join(todo)}"


# ---- the library ---------------------------------------------------------------------------------------------
def _module_parts(path: Path) -> tuple[str, ...]:
    """``vit_lessons/interpret/rollout.py`` -> ("interpret", "rollout")."""
    parts = path.with_suffix("").parts
    return tuple(p for p in parts if p != "__init__")


def _stub(node: ast.stmt, name: str, message: str) -> list[str]:
    """The source lines of a function called ``name`` that keeps ``node``'s docstring and raises ``message``."""
    doc = ast.get_docstring(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
        else None
    return [f"def {name}(*args, **kwargs):", *([f"    {doc!r}"] if doc else []),
            f"    raise PermissionError({message!r})"]


def _binds(node: ast.stmt) -> str | None:
    """The name a top-level statement defines (a function, a class or a plain ``name = ...``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def deny_in_source(source: str, denied: dict[str, str]) -> str:
    """``source`` with its top-level definitions named in ``denied`` (function or class name -> the
    message its stub raises) replaced by stubs that raise."""
    with _PARSE_LOCK:
        tree = ast.parse(source)
    lines = source.splitlines()
    for node in reversed(tree.body):
        name = _binds(node)
        if name is None or name not in denied:
            continue
        message = denied[name].replace("{name}", f"vit_lessons.{name}")
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        lines[start - 1:node.end_lineno] = _stub(node, name, message)
    return "\n".join(lines) + "\n"


def library_definitions(source: Path = LIBRARY_DIR) -> dict[str, tuple[str, ...]]:
    """Module ("vit_lessons.encoder") -> the names of its top-level functions and classes, for every module
    of the library but the grader's."""
    found = {}
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if relative.parts[0] in GRADER_PARTS or "__pycache__" in relative.parts:
            continue
        with _PARSE_LOCK:
            tree = ast.parse(path.read_text())
        module = ".".join(("vit_lessons", *_module_parts(relative)))
        found[module] = tuple(n.name for n in tree.body
                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return found


def stage_library(target: Path, denied: dict[str, str], source: Path = LIBRARY_DIR) -> None:
    """Copy the library into ``target/vit_lessons`` without the grader, the denied functions stubbed.

    ``denied``: function (or class) name -> message, where ``{name}`` stands for its dotted name.
    """
    destination = target / "vit_lessons"
    target.mkdir(mode=0o755, exist_ok=True)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        grader_pyc = here == source / "__pycache__"  # grade.cpython-311.pyc, release.cpython-311.pyc
        return {n for n in names if (here == source and n in GRADER_PARTS)
                or (grader_pyc and n.split(".")[0] + ".py" in GRADER_PARTS)}

    # from the original: copies that keep their times (so that compiled files stay valid); from a staged
    # copy (see compiled_library): hard links, nothing copied; a rewritten file is a new file either way
    same_disk = source != LIBRARY_DIR and os.stat(source).st_dev == os.stat(target).st_dev
    shutil.copytree(source, destination, ignore=ignore, copy_function=os.link if same_disk else shutil.copy2)
    names = "|".join(map(re.escape, denied)) or "(?!)"
    defines = re.compile(rf"^(?:(?:async\s+)?def|class)\s+(?:{names})\b|^(?:{names})\s*=", re.M)  # top level
    for path in destination.rglob("*.py"):
        text = path.read_text()
        if defines.search(text):
            path.unlink()
            path.write_text(deny_in_source(text, denied))
            path.chmod(0o644)
    (destination / "grading").mkdir(mode=0o755)
    (destination / "grading" / "__init__.py").write_text(GRADER_STUB)
    (destination / "grading" / "__init__.py").chmod(0o644)
    for path in [destination, *destination.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


def compiled_library(target: Path, denied: dict[str, str] | None = None, source: Path = LIBRARY_DIR) -> Path:
    """The library staged (with ``denied`` stubbed, see :func:`stage_library`) and compiled
    (``target/vit_lessons``): the source of the job folders' copies, which then link to it and load every
    module from bytecode instead of compiling it again."""
    import compileall

    stage_library(target, denied or {}, source=source)
    compileall.compile_dir(target / "vit_lessons", quiet=2)
    for path in [target / "vit_lessons", *(target / "vit_lessons").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target / "vit_lessons"
