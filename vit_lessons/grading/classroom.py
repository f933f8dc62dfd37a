"""Grading a whole class: ``python -m vit_lessons.grade --class SUBMISSIONS --out OUT_DIR [--jobs N]``.

SUBMISSIONS is a folder (or a ``.zip`` of one) with one sub-folder per student, named by the student's id
(letters, digits, ``_ . @ + -``, starting with a letter or digit).  Written to OUT_DIR:

- ``<student>/results.json``: Gradescope's results, exactly as grading that student alone writes them
  (but for ``execution_time``), and ``<student>/summary.json``: the points, the named mistakes and the
  fingerprint of what was graded (the submission's files, the grader's version, the settings);
- ``grades.csv``: one row per student (id, the points of every exercise in exercise order, total);
- ``report.html`` (:mod:`vit_lessons.grading.report`): the score distribution per exercise and which
  named mistakes how many students made.

Students are graded ``jobs`` at a time (one learner process each, behind the same sandbox as a single
submission, each exercise's job folder open only to its own sandbox user), with a tqdm bar.  A student
whose fingerprint matches the ``summary.json`` already in OUT_DIR is not graded again, so an interrupted
run resumes where it stopped; one student's failure is recorded and never stops the class.  A zip is
extracted with care: only ``.py`` files of the student folders (those not graded, deeper in a folder,
notebooks or odd names, by their names only, as empty files, so that the feedback can say where an
exercise file was), no absolute or ``..`` paths, no links,
at most :data:`MAX_ENTRIES` entries and :data:`MAX_ZIP_BYTES` bytes in all, each file cut at the
grader's own size limit (which then refuses it, as it would refuse the file submitted alone).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .grader import check_names, cores, grade, load_hidden, results_document, secrets
from .gradescope import results_json, write_atomic
from .registry import EXERCISES
from .staging import LIBRARY_DIR, LOOK_DEPTH, MAX_FILE_BYTES, MODULE_NAME

STUDENT_ID = re.compile(r"[^\W_][\w.@+-]{0,99}")
MAX_ENTRIES = 100_000
MAX_ZIP_BYTES = 1 << 30


@dataclass
class Student:
    """One sub-folder of the class: its id, its folder, why it cannot be graded (or None)."""

    id: str
    folder: Path | None
    problem: str | None = None
    fingerprint: str = ""
    summary: dict = field(default_factory=dict)


def _checked_id(name: str) -> str | None:
    """Why ``name`` is no student id (None when it is one)."""
    if STUDENT_ID.fullmatch(name):
        return None
    return (f"the folder name {ascii(name[:60])} is not a student id (letters, digits, _ . @ + -, starting "
            f"with a letter or a digit, at most 100 characters)")


def collect(folder: Path) -> list[Student]:
    """The students of a class folder, in the order of their ids (hidden entries and files skipped)."""
    students = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith((".", "__")) or (entry.is_file(follow_symlinks=False)):
            continue
        problem = _checked_id(entry.name)
        if problem is None and entry.is_symlink():
            problem = "a symbolic link, not a folder"
        elif problem is None and not entry.is_dir(follow_symlinks=False):
            problem = "not a folder"
        shown = entry.name if problem is None else ascii(entry.name[:60])[1:-1]
        students.append(Student(shown, Path(entry.path) if problem is None else None, problem))
    return students


# ---- a zip of the class -------------------------------------------------------------------------------------
def _entry_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a zip entry, or None when the entry must not be extracted (absolute, ``..``, a
    link, a folder, not a Python file, macOS's metadata)."""
    name = info.filename
    if info.is_dir() or "\\" in name or "\0" in name or name.startswith("/"):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or parts[0] == "__MACOSX" or not parts[-1].endswith((".py", ".ipynb")):
        return None
    return parts


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``path`` (its folders made as needed); an existing name is left as it is
    (the same name twice in the zip: the first counts), a name the disk refuses is skipped."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def extract_class(archive: Path, target: Path) -> Path:
    """Extract the students' Python files of ``archive`` into the new folder ``target``; returns the folder
    holding the student folders (a single folder wrapping them all is looked through)."""
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError(f"--class {archive}: {len(infos)} entries (at most {MAX_ENTRIES})")
        entries = [(info, parts) for info in infos if (parts := _entry_parts(info))]
        while entries and all(len(p) >= 3 for _, p in entries) and len({p[0] for _, p in entries}) == 1:
            entries = [(info, p[1:]) for info, p in entries]  # "class/alice/ex01.py": look through "class"
        target.mkdir(mode=0o700)
        budget = MAX_ZIP_BYTES
        for info, parts in entries:
            if len(parts) < 2 or _checked_id(parts[0]):
                continue
            if len(parts) != 2 or not MODULE_NAME.match(parts[1]):
                # not graded (a deeper file, as in a folder, a notebook, an odd name): its name alone, empty,
                # so that the feedback can say where an exercise file was (staging.misplaced)
                if len(parts) <= 2 + LOOK_DEPTH:
                    _write_new(target.joinpath(*parts), b"")
                continue
            with zf.open(info) as source:
                data = source.read(min(MAX_FILE_BYTES + 1, budget + 1))  # never trust the declared size
            budget -= len(data)
            if budget < 0:
                raise ValueError(f"--class {archive}: more than {MAX_ZIP_BYTES >> 20} MB of Python files")
            _write_new(target / parts[0] / parts[1], data)
    return target


# ---- what was graded ------------------------------------------------------------------------------------------
def grader_version() -> str:
    """A hash of the grader and the library it stages (every ``.py`` file of ``vit_lessons``)."""
    digest = hashlib.sha256()
    for path in sorted(LIBRARY_DIR.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(LIBRARY_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(folder: Path, version: str, settings: dict) -> str:
    """A hash of the submission's top-level Python files (names and bytes; links and odd files by their
    kind only, never followed), the grader's ``version`` and the ``settings``."""
    digest = hashlib.sha256(version.encode() + json.dumps(settings, sort_keys=True).encode())
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.name.endswith(".py"):
            continue
        info = entry.stat(follow_symlinks=False)
        digest.update(entry.name.encode("utf-8", "surrogateescape") + b"\0")
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                digest.update(hashlib.sha256(f.read(MAX_FILE_BYTES + 1)).digest())
        else:
            digest.update(f"{stat.S_IFMT(info.st_mode)}:{info.st_size}:{info.st_nlink}".encode())
    return digest.hexdigest()


def _summary(student: Student, results, failure: str | None) -> dict:
    return {"id": student.id, "fingerprint": student.fingerprint, "failure": failure,
            "points": {r.exercise.name: r.score for r in results},
            "max_points": {r.exercise.name: r.max_score for r in results},
            "mistakes": {r.exercise.name: r.mistakes for r in results if r.mistakes},
            "hints": {r.exercise.name: r.hint for r in results if r.mistakes}}


def _previous(out: Path, student: Student) -> dict | None:
    """The summary already in OUT_DIR for this student, when it is for the same fingerprint."""
    try:
        summary = json.loads((out / student.id / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if summary.get("fingerprint") != student.fingerprint or not (out / student.id / "results.json").is_file():
        return None
    return summary


def _grade_student(student: Student, out: Path, box, options: dict) -> dict:
    """Grade one student and write their results.json and summary.json; never raises."""
    start = time.monotonic()
    results, failure = [], None
    try:
        results = grade(student.folder, sandbox=box, jobs=1, **options)
        document = results_document(results, time.monotonic() - start, box.layers)
    except Exception as exc:  # noqa: BLE001 - one student's failure must not stop the class
        traceback.print_exc()
        failure = f"The autograder could not grade this submission: {type(exc).__name__}: {exc}"
        document = results_json([], time.monotonic() - start, failure=failure)
    folder = out / student.id
    write_atomic(folder / "results.json", document)
    summary = _summary(student, results, failure)
    write_atomic(folder / "summary.json", summary)
    return summary


def write_grades(path: Path, students: list[Student], names: list[str]) -> None:
    """grades.csv: id, the points of every exercise (in exercise order), total; empty cells where a
    student's grading failed.  Folders whose names are no student ids are left out (the report names them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *(f"{EXERCISES[n].number:02d} {n}" for n in names), "total"])
    for s in students:
        if s.problem:  # no student id (the report lists it with the reason)
            continue
        points = s.summary.get("points", {}) if not s.problem and not s.summary.get("failure") else {}
        cells = [f"{points[n]:g}" if n in points else "" for n in names]
        total = f"{sum(points.values()):g}" if points else ""
        writer.writerow([s.id, *cells, total])
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)


def grade_class(source: Path, out: Path, *, jobs: int | None = None, timeout: float = 60.0, memory_mb: int = 3072,
                sandbox: str = "auto", unsafe: bool = False, solutions: Path | None = None,
                only: list[str] | None = None, progress: bool = True) -> str:
    """Grade every student of ``source`` (a folder or a zip) into ``out``; returns a one-line summary."""
    from tqdm.auto import tqdm

    from .report import write_report
    from .sandbox import Sandbox

    load_hidden()
    names = check_names(only)
    source, out = Path(source), Path(out)
    if solutions is not None and not Path(solutions).is_dir():
        raise ValueError(f"--solutions {solutions}: not a folder")
    scratch = Path(tempfile.mkdtemp(prefix="vit_class_"))
    try:
        if source.is_file() and zipfile.is_zipfile(source):
            folder = extract_class(source, scratch / "class")
        elif source.is_dir():
            folder = source
        else:
            raise ValueError(f"--class {source}: expected a folder or a .zip of student folders")
        out.mkdir(parents=True, exist_ok=True)
        students = collect(folder)
        jobs = jobs or cores()
        box = Sandbox.create(sandbox, unsafe=unsafe, slots=jobs,
                             secrets=secrets(solutions, source, folder, out, scratch))
        try:
            counts = _grade_all(students, out, box, jobs, names, timeout, memory_mb, progress, tqdm)
            layers = box.layers.describe(changes=False)
        finally:
            box.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_grades(out / "grades.csv", students, names)
    write_report(out / "report.html", students, names, layers)
    return (f"{len(students)} students: {counts['graded']} graded, {counts['kept']} unchanged since the last run, "
            f"{counts['failed']} failed, {counts['refused']} refused; {out / 'grades.csv'}, {out / 'report.html'}")


def _grade_all(students, out, box, jobs, names, timeout, memory_mb, progress, tqdm) -> dict[str, int]:
    settings = {"exercises": names, "timeout": timeout, "memory_mb": memory_mb}
    version = grader_version()
    counts = {"graded": 0, "kept": 0, "failed": 0, "refused": 0}
    todo = []
    for s in students:
        if s.problem:
            counts["refused"] += 1
            continue
        s.fingerprint = fingerprint(s.folder, version, settings)
        previous = _previous(out, s)
        if previous is None:
            todo.append(s)
        else:
            s.summary = previous
            counts["kept"] += 1
    lock = threading.Lock()
    options = {"only": names, "timeout": timeout, "memory_mb": memory_mb}
    with tqdm(total=len(todo), desc="grading", unit="student", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_grade_student, s, out, box, options): s for s in todo}
        for future in as_completed(futures):
            student = futures[future]
            student.summary = future.result()
            with lock:
                counts["failed" if student.summary["failure"] else "graded"] += 1
            bar.update(1)
    return counts
