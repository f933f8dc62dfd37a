"""Grading a whole class: ``python -m vit_lessons.grade --class SUBMISSIONS --out OUT_DIR [--jobs N]``.

SUBMISSIONS is a folder (or a ``.zip`` of one: the same students) with one sub-folder per student, named by
the student's id (letters, digits, ``_ . @ + -``, starting with a letter or digit; in Unicode's composed
form).  A sub-folder that cannot be graded (no student id, the same id twice) is refused and named with
the reason.  OUT_DIR lies outside SUBMISSIONS.  Written to OUT_DIR:

- ``<student>/results.json``: Gradescope's results, exactly as grading that student alone writes them
  (but for ``execution_time``), and ``<student>/summary.json``: the points, the named mistakes and the
  fingerprint of what was graded (the submission's files, the grader's version, the settings);
- ``grades.csv``: one row per student (id, the points of every exercise in exercise order, total, and why
  the student was not graded: then the points are empty);
- ``report.html`` (:mod:`vit_lessons.grading.report`): the score distribution per exercise and which
  named mistakes how many students made.

Students are graded ``jobs`` at a time (one learner process each, behind the same sandbox as a single
submission, each exercise's job folder open only to its own sandbox user), with a tqdm bar.  A student
whose fingerprint matches the ``summary.json`` already in OUT_DIR is not graded again, so an interrupted
run resumes where it stopped (a student whose grading failed is graded again); one student's failure is
recorded and never stops the class; Ctrl-C stops the class and writes what is done.  A zip is
extracted with care: only ``.py`` files of the student folders (those not graded, deeper in a folder,
notebooks or odd names, by their names only, as empty files, so that the feedback can say where an
exercise file was), no absolute or ``..`` paths, no links,
at most :data:`MAX_ENTRIES` entries and :data:`MAX_ZIP_BYTES` bytes in all, each file cut at the
grader's own size limit (which then refuses it, as it would refuse the file submitted alone).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
import traceback
import unicodedata
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .engine import GRADER_FAILED
from .grader import check_names, check_settings, grade, load_hidden, results_document, secrets
from .gradescope import results_json, write_atomic
from .registry import EXERCISES
from .staging import LIBRARY_DIR, LOOK_DEPTH, MAX_FILE_BYTES, MODULE_NAME

STUDENT_ID = re.compile(r"[^\W_][\w.@+-]{0,99}")
#: what the grader writes in OUT_DIR beside the students' folders
RESERVED = {"grades.csv", "grades.csv.tmp", "report.html", "report.html.tmp"}
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
    """Why ``name`` (in Unicode's composed form) is no student id (None when it is one)."""
    if name in RESERVED:
        return f"{ascii(name)[1:-1]} is the name of a file the grader writes in OUT_DIR"
    if STUDENT_ID.fullmatch(name):
        return None
    return (f"the folder name {ascii(name[:60])} is not a student id (letters, digits, _ . @ + -, starting "
            f"with a letter or a digit, at most 100 characters)")


def student_id(name: str) -> str:
    """A folder's name as a student id: in Unicode's composed form (macOS writes "é" as "e" and an accent)."""
    return unicodedata.normalize("NFC", name)


def refused(name: str, problem: str) -> Student:
    return Student(ascii(name[:60])[1:-1], None, problem)


def collect(folder: Path) -> list[Student]:
    """The students of a class folder, in the order of their ids (hidden entries and files skipped)."""
    students = []
    for entry in os.scandir(folder):
        if entry.name.startswith((".", "__")) or (entry.is_file(follow_symlinks=False)):
            continue
        name = student_id(entry.name)
        problem = _checked_id(name)
        if problem is None and entry.is_symlink():
            problem = "a symbolic link, not a folder"
        elif problem is None and not entry.is_dir(follow_symlinks=False):
            problem = "not a folder"
        students.append(Student(name, Path(entry.path)) if problem is None else refused(name, problem))
    return unique(students)


def unique(students: list[Student]) -> list[Student]:
    """The students in the order of their ids; a second folder with the same id (once composed) refused."""
    seen, out = set(), []
    for s in sorted(students, key=lambda s: (s.id, s.folder is None, str(s.folder))):
        if s.problem is None and s.id in seen:
            s = refused(s.id, "a second folder with the same student id (the same name once its accents are "
                              "written composed)")
        seen.add(s.id)
        out.append(s)
    return out


# ---- a zip of the class -------------------------------------------------------------------------------------
def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its maker meant it: without the zip's UTF-8 flag, Info-ZIP (``LANG=C``) and others
    store the UTF-8 bytes as they are, which zipfile reads as cp437 ("j├│zef" for "józef")."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:  # truly cp437 (or another code page): as zipfile read it
            pass
    return name.replace("\\", "/")  # old Windows tools separate folders with backslashes


def _entry_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a zip entry, or None when the entry is ignored (absolute, ``..``, a NUL)."""
    name = entry_name(info)
    if "\0" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
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


def _entries(zf: zipfile.ZipFile, archive: Path) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """The zip's entries with their path parts, a single folder wrapping the whole class looked through
    ("class/alice/ex01.py"): while one folder holds everything and no Python file lies beside its folders."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ValueError(f"--class {archive}: {len(infos)} entries (at most {MAX_ENTRIES})")
    entries = [(info, parts) for info in infos if (parts := _entry_parts(info))]
    entries = [(info, parts) for info, parts in entries if not parts[0].startswith((".", "__"))]
    while (entries and len({p[0] for _, p in entries}) == 1 and any(len(p) >= 2 for _, p in entries)
           and not any(len(p) <= 2 and p[-1].endswith(".py") and not i.is_dir() for i, p in entries)):
        entries = [(info, p[1:]) for info, p in entries if len(p) > 1]
    return entries


def _folders(entries, target: Path) -> tuple[dict[str, Path], list[Student]]:
    """The students' folders of the zip (every top-level folder, as in a folder of the class, even empty or
    with its files deeper down) made in ``target``, and those refused."""
    tops = {}
    for info, parts in entries:
        link = stat.S_ISLNK(info.external_attr >> 16)
        if parts[0].startswith((".", "__")):  # hidden, or macOS's metadata, as in a folder
            continue
        if len(parts) > 1 or info.is_dir() or link:  # a file beside the student folders is no student
            tops.setdefault(parts[0], set()).add("link" if link and len(parts) == 1 else "folder")
    candidates = []  # each with its folder's name in the zip
    for raw in sorted(tops):
        name = student_id(raw)
        problem = _checked_id(name) or ("a symbolic link, not a folder" if "link" in tops[raw] else None)
        candidates.append(refused(name, problem) if problem else Student(name, Path(raw)))
    folders, refusals = {}, []
    for s in unique(candidates):
        if s.problem is None:
            try:
                (target / s.id).mkdir(mode=0o700)
                folders[str(s.folder)] = target / s.id
                continue
            except OSError as exc:  # a name too long for this file system
                s = refused(s.id, f"a folder name this machine cannot hold ({exc.strerror})")
        refusals.append(s)
    return folders, refusals


def extract_class(archive: Path, target: Path) -> tuple[Path, list[Student]]:
    """Extract the students' Python files of ``archive`` into the new folder ``target``; returns the folder
    holding the student folders and the refused ones (which are not extracted)."""
    with zipfile.ZipFile(archive) as zf:
        entries = _entries(zf, archive)
        target.mkdir(mode=0o700)
        folders, refusals = _folders(entries, target)
        budget = MAX_ZIP_BYTES
        for info, parts in entries:
            if len(parts) < 2 or parts[0] not in folders or info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                continue
            if len(parts) != 2 or not MODULE_NAME.match(parts[1]):
                # not graded (a deeper file, as in a folder, a notebook, an odd name): its name alone, empty,
                # so that the feedback can say where an exercise file was (staging.misplaced)
                if len(parts) <= 2 + LOOK_DEPTH and parts[-1].endswith((".py", ".ipynb")):
                    _write_new(folders[parts[0]].joinpath(*parts[1:]), b"")
                continue
            with zf.open(info) as source:
                data = source.read(min(MAX_FILE_BYTES + 1, budget + 1))  # never trust the declared size
            budget -= len(data)
            if budget < 0:
                raise ValueError(f"--class {archive}: more than {MAX_ZIP_BYTES >> 20} MB of Python files")
            _write_new(folders[parts[0]] / parts[1], data)
    return target, refusals


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
    broken = [r.exercise.name for r in results if r.verdict.startswith(GRADER_FAILED)]
    if broken and failure is None:
        kinds = sorted({m[1] for r in results if r.exercise.name in broken
                        for m in [re.search(r"\((\w+)\)", r.verdict)] if m})
        failure = (f"the grader failed on {', '.join(broken)} ({', '.join(kinds) or 'an error'}); run the same "
                   f"command again to grade this student again")
    return {"id": student.id, "fingerprint": student.fingerprint, "failure": failure,
            "points": {r.exercise.name: r.score for r in results},
            "max_points": {r.exercise.name: r.max_score for r in results},
            "mistakes": {r.exercise.name: r.mistakes for r in results if r.mistakes},
            "hints": {r.exercise.name: r.hint for r in results if r.mistakes}}


def _previous(out: Path, student: Student) -> dict | None:
    """The summary already in OUT_DIR for this student, when it is for the same fingerprint and the grading
    did not fail (a failure is the grader's, not the student's: it is tried again)."""
    try:
        summary = json.loads((out / student.id / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("fingerprint") != student.fingerprint or \
            summary.get("failure") or not (out / student.id / "results.json").is_file():
        return None
    return summary


def _grade_student(student: Student, out: Path, box, options: dict, stop: threading.Event) -> dict | None:
    """Grade one student, an exercise at a time, and write their results.json and summary.json; None (and
    nothing written) when ``stop`` is set before the last exercise is graded.  Never raises."""
    start = time.monotonic()
    results, failure = [], None
    try:
        for name in options["only"]:
            if stop.is_set():
                return None
            results += grade(student.folder, sandbox=box, jobs=1, **{**options, "only": [name]})
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


def why_not_graded(student: Student) -> str | None:
    """Why the student has no grade (None when they have one): refused, failed or interrupted."""
    if student.problem:
        return student.problem
    if not student.summary:
        return "interrupted before this student was graded; run the same command again to go on"
    return student.summary.get("failure")


def write_grades(path: Path, students: list[Student], names: list[str]) -> None:
    """grades.csv: id, the points of every exercise (in exercise order), total, and why the student was not
    graded, if not: then the points are left empty (a spreadsheet's averages skip them; a 0 would count).
    Folders whose names are no student ids are left out (the report and the summary name them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *(f"{EXERCISES[n].number:02d} {n}" for n in names), "total", "not graded"])
    for s in students:
        if _checked_id(s.id):  # no student id (the report and the summary name it)
            continue
        why = why_not_graded(s)
        points = {} if why else s.summary.get("points", {})
        cells = [f"{points[n]:g}" if n in points else "" for n in names]
        total = f"{sum(points.values()):g}" if points else ""
        writer.writerow([s.id, *cells, total, why or ""])
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)


class ClassSummary(str):
    """What :func:`grade_class` did, in a few lines (the first: the counts), with the ``counts`` and
    ``exit_status``: 130 when interrupted, 1 when a student could not be graded, else 0."""

    counts: dict[str, int]

    @property
    def exit_status(self) -> int:
        return 130 if self.counts["interrupted"] else 1 if self.counts["failed"] else 0


def _source_folder(source: Path, out: Path, scratch: Path) -> tuple[Path, list[Student]]:
    """The folder of the class (a zip extracted into ``scratch``) and the students refused in the zip."""
    if source.is_file() and zipfile.is_zipfile(source):
        return extract_class(source, scratch / "class")
    if not source.is_dir():
        raise ValueError(f"--class {source}: expected a folder or a .zip of student folders")
    inside, folder = out.resolve(), source.resolve()
    if inside == folder or folder in inside.parents:
        raise ValueError(f"--out {out}: inside the class folder {source} (where it would be graded as a "
                         f"student); expected a folder outside it")
    return source, []


def grade_class(source: Path, out: Path, *, jobs: int | None = None, timeout: float = 60.0, memory_mb: int = 3072,
                sandbox: str = "auto", unsafe: bool = False, solutions: Path | None = None,
                only: list[str] | None = None, progress: bool = True) -> ClassSummary:
    """Grade every student of ``source`` (a folder or a zip) into ``out``; returns what was done.  On
    KeyboardInterrupt (Ctrl-C), the queued students are cancelled, the running ones stop after their
    exercise, and grades.csv and report.html are written for what is done."""
    from tqdm.auto import tqdm

    from .report import write_report
    from .sandbox import Sandbox

    load_hidden()
    names = check_names(only)
    jobs = check_settings(timeout=timeout, memory_mb=memory_mb, jobs=jobs)
    source, out = Path(source), Path(out)
    if solutions is not None and not Path(solutions).is_dir():
        raise ValueError(f"--solutions {solutions}: not a folder")
    scratch = Path(tempfile.mkdtemp(prefix="vit_class_"))
    try:
        folder, refusals = _source_folder(source, out, scratch)
        out.mkdir(parents=True, exist_ok=True)
        students = unique(collect(folder) + refusals)
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
    return _summarise(students, counts, out)


def _summarise(students: list[Student], counts: dict[str, int], out: Path) -> ClassSummary:
    lines = [f"{len(students)} students: {counts['graded']} graded, {counts['kept']} unchanged since the last run, "
             f"{counts['failed']} failed, {counts['refused']} refused, {counts['interrupted']} interrupted; "
             f"{out / 'grades.csv'}, {out / 'report.html'}"]
    lines += [f"not graded: {s.id}: {why_not_graded(s)}" for s in students
              if (s.problem or s.summary.get("failure")) and why_not_graded(s)]
    if counts["interrupted"]:
        done = counts["graded"] + counts["kept"]
        lines.append(f"interrupted: {done} of {len(students) - counts['refused']} graded; run the same command "
                     f"again to go on")
    summary = ClassSummary("\n".join(lines))
    summary.counts = counts
    return summary


def _grade_all(students, out, box, jobs, names, timeout, memory_mb, progress, tqdm) -> dict[str, int]:
    settings = {"exercises": names, "timeout": timeout, "memory_mb": memory_mb}
    version = grader_version()
    counts = {"graded": 0, "kept": 0, "failed": 0, "refused": 0, "interrupted": 0}
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
    options = {"only": names, "timeout": timeout, "memory_mb": memory_mb}
    with tqdm(total=len(todo), desc="grading", unit="student", disable=not progress) as bar:
        _run(todo, out, box, jobs, options, counts, bar)
    return counts


def _run(todo: list[Student], out: Path, box, jobs: int, options: dict, counts: dict[str, int], bar) -> None:
    """Grade the students ``todo``, ``jobs`` at a time; on KeyboardInterrupt, the queued ones are cancelled
    and the running ones stop after their exercise (a second Ctrl-C meanwhile is ignored)."""
    stop = threading.Event()

    def record(student: Student, summary: dict | None) -> None:
        if summary is None:
            return
        student.summary = summary
        counts["failed" if summary["failure"] else "graded"] += 1
        bar.update(1)

    pool, futures = ThreadPoolExecutor(max_workers=jobs), {}
    try:
        for s in todo:
            futures[pool.submit(_grade_student, s, out, box, options, stop)] = s
        for future in as_completed(futures):
            record(futures[future], future.result())
    except KeyboardInterrupt:
        stop.set()
        with _sigint_ignored():
            pool.shutdown(wait=True, cancel_futures=True)
            for future, student in futures.items():
                if future.done() and not future.cancelled() and not student.summary:
                    record(student, future.result())
        counts["interrupted"] = sum(not s.summary for s in todo)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored meanwhile (in the main thread; elsewhere, nothing changes)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
