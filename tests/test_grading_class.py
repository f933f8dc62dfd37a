"""Grading a class: ``python -m vit_lessons.grade --class SUBMISSIONS --out OUT_DIR``.

A generated class of students with known mistakes is graded once by the command; its grades.csv equals
grading each student alone, each results.json is what grading that student alone writes (but for the
timing), the report names the mistakes with their counts and escapes what students control, a second run
regrades nothing, a zip of the class (traversal, links and a bomb included) grades the same, and a
student whose grading fails costs only that student.
"""

import csv
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from vit_lessons.grade import grade, secrets
from vit_lessons.grading import classroom
from vit_lessons.grading.grader import results_document
from vit_lessons.grading.mistakes import describe
from vit_lessons.grading.registry import EXERCISES
from vit_lessons.grading.sandbox import Sandbox

from .grading_helpers import REPO
from .test_grading_catalogue import LEARNERS

ONLY = ["patchify", "encoder_block", "pooling", "vit_forward"]
#: student -> {exercise: mistake of its learner} (the other exercises: the reference solutions)
CLASS = {
    "s01": {}, "s03": {"encoder_block": "tanh_gelu"}, "s04": {"encoder_block": "tanh_gelu"},
    "s05": {"encoder_block": "tanh_gelu", "vit_forward": "post_ln"}, "s06": {"vit_forward": "post_ln"},
    "s07": {"pooling": "cls_in_mean"}, "s08": {"pooling": "axis0"}, "s09": {"patchify": "unpatchify_no_transpose"},
    "s10": {"encoder_block": "ln_unbiased_var"}, "s11": {"vit_forward": "no_pos_embed"},
    "s12": {"encoder_block": "torch", "pooling": "torch", "vit_forward": "torch"},
}
#: exercise -> mistake -> how many students the report must count
COUNTS = {"encoder_block": {"tanh_gelu": 3, "ln_unbiased_var": 1}, "vit_forward": {"post_ln": 2, "no_pos_embed": 1},
          "pooling": {"cls_in_mean": 1, "batch=batched": 1}, "patchify": {"unpatchify_no_transpose": 1}}
HOSTILE_ID = "<img src=x onerror=alert(1)>"


def write_student(folder, mistakes: dict) -> None:
    folder.mkdir()
    for path in (REPO / "solutions").glob("ex*.py"):
        shutil.copy(path, folder / path.name)
    for name, mistake in mistakes.items():
        source = LEARNERS[name]
        shutil.copy(source, folder / source.name)
        ex = EXERCISES[name]
        if name == "vit_forward":
            body = f"vit_forward = build('mean', {mistake!r})\n"
        else:
            body = f"_f = build({mistake!r})\n" + "".join(f"{f} = _f[{f!r}]\n" for f in ex.functions)
        (folder / ex.file).write_text(f"from {source.stem} import build\n\n{body}")


def make_class(root):
    root.mkdir()
    for student, mistakes in CLASS.items():
        write_student(root / student, mistakes)
    shutil.copytree(REPO / "exercises", root / "s02", ignore=shutil.ignore_patterns("*.md"))  # untouched stubs
    (root / HOSTILE_ID).mkdir()  # not a student id: named in the report, escaped
    (root / "notes.txt").write_text("a file beside the folders is not a student\n")
    return root


def run_class(source, out, *more):
    return subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--class", str(source), "--out", str(out),
                           "--jobs", "2", "--timeout", "60", *(a for n in ONLY for a in ("--only", n)), *more],
                          cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("class") / "submissions")
    out = root.parent / "out"
    proc = run_class(root, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out, proc


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def alone(graded):
    """Each student graded alone, in this process, behind the same layers."""
    root, _, _ = graded
    box = Sandbox.create("auto", slots=2, secrets=secrets())
    try:
        return {s: grade(root / s, only=ONLY, sandbox=box, jobs=2) for s in [*CLASS, "s02"]}, box.layers
    finally:
        box.close()


def test_grades_csv_equals_grading_each_student_alone(graded, alone):
    _, out, proc = graded
    results, _ = alone
    rows = read_csv(out / "grades.csv")
    assert rows[0] == ["student", *(f"{EXERCISES[n].number:02d} {n}" for n in ONLY), "total", "not graded"]
    assert all(r[-1] == "" for r in rows[1:])
    by_id = {r[0]: r[1:-1] for r in rows[1:]}
    assert sorted(by_id) == sorted([*CLASS, "s02"])  # the folder that is no student id is not a row
    for student, res in results.items():
        alone_row = [f"{r.score:g}" for r in res] + [f"{sum(r.score for r in res):g}"]
        # on a difference, what each side said (the class's results.json and the lone grading's verdicts)
        written = json.loads((out / student / "results.json").read_text())["output"]
        said = "\n".join(f"{r.exercise.name}: {r.score:g} {r.verdict} | {r.hint} | "
                         + " / ".join(c.message for c in r.cases if c.message)[:400] for r in res)
        assert by_id[student] == alone_row, f"{student}\nclass:\n{written}\nalone:\n{said}"
    assert by_id["s01"][-1] == "40" and by_id["s02"][-1] == "0" and by_id["s12"][-1] == "40"
    assert "grading" in proc.stderr and "student" in proc.stderr  # the tqdm bar


def test_each_results_json_is_what_grading_alone_writes(graded, alone):
    _, out, _ = graded
    results, layers = alone
    for student, res in results.items():
        written = json.loads((out / student / "results.json").read_text())
        expected = results_document(res, written["execution_time"], layers)
        assert written == json.loads(json.dumps(expected)), student


def test_the_command_alone_writes_the_same_results_json(graded, tmp_path):
    root, out, _ = graded
    for student in ("s05", "s08"):
        results = tmp_path / f"{student}.json"
        proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(root / student),
                               "--results", str(results), *(a for n in ONLY for a in ("--only", n))],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        alone, within = json.loads(results.read_text()), json.loads((out / student / "results.json").read_text())
        alone.pop("execution_time")
        within.pop("execution_time")
        assert alone == within, student


def _report_rows(report: str, exercise: str) -> str:
    start = report.index(f"<h3>{html.escape(EXERCISES[exercise].title)}</h3>")
    end = report.find("<h3>", start + 4)
    return report[start:end if end > 0 else len(report)]


def test_the_report_names_the_mistakes_with_their_counts(graded):
    _, out, _ = graded
    report = (out / "report.html").read_text()
    assert "<svg" in report and "<script" not in report and "src=" not in report.replace("src=x", "")
    for exercise, counts in COUNTS.items():
        section = _report_rows(report, exercise)
        for mistake, count in counts.items():
            text = describe(mistake, exercise)
            row = f"<tr><td class='n'>{count}</td><td><code>{html.escape(mistake)}</code></td><td>{html.escape(text)}"
            assert row in section, (exercise, mistake)
    assert "tanh_gelu" not in _report_rows(report, "vit_forward")


def test_the_report_escapes_what_students_control(graded):
    _, out, _ = graded
    report = (out / "report.html").read_text()
    assert HOSTILE_ID not in report and "<img" not in report
    assert html.escape(HOSTILE_ID, quote=True) in report and "not a student id" in report


def test_a_second_run_regrades_nothing_and_a_changed_submission_is_regraded(graded):
    root, out, _ = graded
    before = {s: (out / s / "results.json").stat().st_mtime_ns for s in CLASS}
    proc = run_class(root, out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"0 graded, {len(CLASS) + 1} unchanged since the last run" in proc.stdout
    assert before == {s: (out / s / "results.json").stat().st_mtime_ns for s in CLASS}
    changed = root / "s06" / "ex07_vit_forward.py"
    changed.write_text(changed.read_text() + "\n# fixed later\n")
    proc = run_class(root, out, "--no-progress")
    assert proc.returncode == 0 and "1 graded" in proc.stdout, proc.stdout
    assert (out / "s06" / "results.json").stat().st_mtime_ns != before["s06"]
    assert before["s07"] == (out / "s07" / "results.json").stat().st_mtime_ns


def test_a_zip_of_the_class_is_extracted_safely_and_grades_alike(tmp_path):
    root = tmp_path / "submissions"
    root.mkdir()
    write_student(root / "ann", {"pooling": "cls_in_mean"})
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((root / "ann").iterdir()):
            zf.write(path, f"export/ann/{path.name}")  # a folder that wraps the students
        zf.writestr("export/../../evil.py", "x = 1\n")
        zf.writestr("/export/abs/ex06_pooling.py", "x = 1\n")
        link = zipfile.ZipInfo("export/ben/ex06_pooling.py")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("export/cat/ex06_pooling.py", b"#" * (50 << 20))  # 50 MB of comment, a few kB zipped
    out = tmp_path / "out"
    summary = classroom.grade_class(archive, out, jobs=2, only=["pooling"], progress=False)
    assert "3 graded" in summary, summary
    rows = {r[0]: r[1:] for r in read_csv(out / "grades.csv")[1:]}
    assert sorted(rows) == ["ann", "ben", "cat"]  # ben's only file was a link: not extracted, ben graded 0
    [alone] = grade(root / "ann", only=["pooling"])
    assert rows["ann"] == [f"{alone.score:g}"] * 2 + [""] and rows["ben"] == ["0", "0", ""]
    cat = json.loads((out / "cat" / "results.json").read_text())
    assert "bytes (at most 1000000)" in cat["tests"][0]["output"]
    assert not (tmp_path / "evil.py").exists() and not any(p.is_symlink() for p in out.rglob("*"))


def test_one_student_s_failure_never_stops_the_class(tmp_path, monkeypatch):
    root = tmp_path / "submissions"
    root.mkdir()
    for student in ("amy", "bea", "cid"):
        write_student(root / student, {})
    real = classroom.grade

    def grade_or_fail(folder, **kwargs):
        if folder.name == "bea":
            raise RuntimeError("a failure while grading bea")
        return real(folder, **kwargs)

    monkeypatch.setattr(classroom, "grade", grade_or_fail)
    summary = classroom.grade_class(root, tmp_path / "out", jobs=2, only=["pooling"], progress=False)
    assert "2 graded" in summary and "1 failed" in summary and summary.exit_status == 1
    rows = {r[0]: r[1:] for r in read_csv(tmp_path / "out" / "grades.csv")[1:]}
    assert rows == {"amy": ["10", "10", ""], "bea": ["", "", "The autograder could not grade this submission: "
                                                             "RuntimeError: a failure while grading bea"],
                    "cid": ["10", "10", ""]}
    bea = json.loads((tmp_path / "out" / "bea" / "results.json").read_text())
    assert bea["tests"][-1]["name"] == "Autograder failed"
    assert "a failure while grading bea" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox users exist only when the grader runs as root")
def test_students_cannot_read_each_other_s_jobs(tmp_path):
    """Every exercise's job folder is open to its own sandbox user only: the job of another student,
    graded at the same time under the other user, cannot be entered."""
    from vit_lessons.grading import isolation

    box = Sandbox.create("user", slots=2, secrets=secrets())
    try:
        first, second = box.users
        job = box.root / "job"
        job.mkdir()
        from vit_lessons.grading.sandbox import write_job

        write_job(job, exercise=6, file="ex06_pooling.py", cases=[], timeout=5, memory_mb=512, preload=(),
                  rules=[], torch_denied=[], blocked=[], box=box, user=first)
        assert isolation.probe(first, [job / "job.json"], []) is None
        assert isolation.probe(second, [], [job / "job.json", job]) is None
    finally:
        box.close()


# ---- the same students from a folder and from a zip ------------------------------------------------------------
def _odd_class(root):
    """A class with a folder that is no student id, accents composed and decomposed, an empty folder and a
    student whose files all sit in a sub-folder."""
    root.mkdir()
    for student in ("ann", "józef", "zoe\u0301"):  # "zoé" as macOS writes it
        (root / student).mkdir()
        shutil.copy(REPO / "solutions" / "ex06_pooling.py", root / student)
    (root / "john doe").mkdir()
    shutil.copy(REPO / "solutions" / "ex06_pooling.py", root / "john doe")
    (root / "empty").mkdir()
    (root / "deep" / "sub").mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "ex06_pooling.py", root / "deep" / "sub")
    return root


def _zip_of(root, archive):
    """The class zipped as Info-ZIP does with LANG=C: a wrapping folder, non-ASCII names as raw UTF-8 bytes
    without the zip's UTF-8 flag (for "józef"), macOS's metadata and a hidden file."""
    raw = "józef".encode()
    stand_in = "jQQzef"  # as long as józef in UTF-8: replaced by its bytes once written
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            name = "export/" + path.relative_to(root).as_posix().replace("józef", stand_in)
            if path.is_dir():
                zf.writestr(name + "/", b"")
            else:
                zf.write(path, name)
        zf.writestr("__MACOSX/export/ann/._ex06_pooling.py", b"\0\5\26\7")
        zf.writestr("export/.DS_Store", b"\0")
    data = archive.read_bytes()
    assert data.count(stand_in.encode()) == 4  # local and central headers of the folder and of the file
    archive.write_bytes(data.replace(stand_in.encode(), raw))
    with zipfile.ZipFile(archive) as zf:
        assert any("j├│zef" in i.filename and not i.flag_bits & 0x800 for i in zf.infolist())


def test_a_zip_lists_the_same_students_as_its_folder(tmp_path):
    root = _odd_class(tmp_path / "submissions")
    _zip_of(root, tmp_path / "class.zip")
    expected = [["ann", "10", "10", ""], ["deep", "0", "0", ""], ["empty", "0", "0", ""],
                ["józef", "10", "10", ""], ["zoé", "10", "10", ""]]
    for source in (root, tmp_path / "class.zip"):
        out = tmp_path / f"out-{source.suffix or 'folder'}"
        summary = classroom.grade_class(source, out, jobs=2, only=["pooling"], progress=False)
        assert summary.splitlines()[0].startswith("6 students: 5 graded, 0 unchanged since the last run, 0 failed, "
                                                  "1 refused"), (source, summary)
        assert "not graded: john doe: the folder name 'john doe' is not a student id" in summary, summary
        assert read_csv(out / "grades.csv")[1:] == expected, source
        report = (out / "report.html").read_text()
        not_graded = report[report.index("<h2>Not graded</h2>"):report.index("<h2>Students</h2>")]
        assert "<td>john doe</td><td>the folder name" in not_graded
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [r[0] for r in expected]


def test_zip_names_are_read_as_their_maker_meant_them():
    info = zipfile.ZipInfo("jĂłzef/ex06_pooling.py")  # any cp437 text that is no UTF-8 stays as read
    assert classroom.entry_name(info) == "jĂłzef/ex06_pooling.py"
    info = zipfile.ZipInfo("j\u251c\u2502zef\\ex06_pooling.py")  # raw UTF-8 without the flag, a Windows separator
    assert classroom.entry_name(info) == "józef/ex06_pooling.py"
    info.flag_bits |= 0x800  # flagged UTF-8: as zipfile read it
    info.filename = "j\u251c\u2502zef/ex06_pooling.py"
    assert classroom.entry_name(info) == "j\u251c\u2502zef/ex06_pooling.py"


def test_the_same_id_twice_and_the_grader_s_own_file_names_are_refused(tmp_path):
    root = tmp_path / "submissions"
    root.mkdir()
    for name in ("zoé", "zoe\u0301", "report.html"):
        (root / name).mkdir()
    students = classroom.collect(root)
    assert [(s.id, s.problem is None) for s in students] == [("report.html", False), ("zoé", True),
                                                              ("zo\\xe9", False)]
    assert "second folder with the same student id" in students[2].problem
    assert "a file the grader writes" in students[0].problem


# ---- settings ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, value, expected", [
    ("--timeout", "0", "expected a number of seconds > 0"), ("--timeout", "-5", "expected a number of seconds > 0"),
    ("--timeout", "nan", "expected a number of seconds > 0"), ("--timeout", "inf", "expected a number of seconds"),
    ("--memory", "-1", "expected a whole number of megabytes > 0"), ("--memory", "0", "expected a whole number"),
    ("--jobs", "-1", "expected a whole number from 1 to"), ("--jobs", "1000", "expected a whole number from 1 to"),
])
def test_bad_settings_are_refused_naming_the_flag(flag, value, expected, capsys, tmp_path):
    from vit_lessons.grade import _parser

    with pytest.raises(SystemExit) as stop:
        _parser().parse_args(["--class", str(tmp_path), "--out", str(tmp_path / "out"), f"{flag}={value}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {flag} {value}: {expected}" in err, err


def test_jobs_are_capped_and_zero_means_one_per_core():
    from vit_lessons.grade import _parser
    from vit_lessons.grading.grader import cores, max_jobs

    assert max_jobs() == min(32, 4 * cores())
    assert _parser().parse_args(["--jobs", str(max_jobs())]).jobs == max_jobs()
    assert _parser().parse_args(["--jobs", "0"]).jobs == 0
    with pytest.raises(SystemExit):
        _parser().parse_args(["--jobs", str(max_jobs() + 1)])


@pytest.mark.parametrize("setting, value", [("timeout", 0), ("timeout", float("nan")), ("timeout", float("inf")),
                                            ("timeout", -5), ("memory_mb", 0), ("memory_mb", -1), ("jobs", -1),
                                            ("jobs", 1000)])
def test_the_python_api_refuses_bad_settings(setting, value, tmp_path):
    """Checked before anything else (here a missing class folder)."""
    with pytest.raises(ValueError, match=f"^{setting}={value!r}: expected"):
        classroom.grade_class(tmp_path / "missing", tmp_path / "out", **{setting: value})
    with pytest.raises(ValueError, match=f"^{setting}={value!r}: expected"):
        grade(tmp_path / "missing", only=["pooling"], **{setting: value})


def test_out_inside_the_class_folder_is_refused(tmp_path):
    root = tmp_path / "submissions"
    root.mkdir()
    (tmp_path / "link").symlink_to(root)
    for out in (root / "out", root, tmp_path / "link" / "results"):
        with pytest.raises(ValueError, match="inside the class folder"):
            classroom.grade_class(root, out, only=["pooling"], progress=False)
        assert not out.exists() or out == root


def test_operator_mistakes_are_one_line_with_exit_status_2(tmp_path):
    not_a_zip = tmp_path / "class.zip"
    not_a_zip.write_text("not a zip\n")
    for args in (["--class", str(tmp_path / "nope"), "--out", str(tmp_path / "out")],
                 ["--class", str(not_a_zip), "--out", str(tmp_path / "out")], [],
                 ["--class", str(tmp_path), "--submission", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip(), (args, proc.stderr)
        last = proc.stderr.strip().splitlines()[-1]
        assert ("expected a folder or a .zip" in last or "not a folder" in last or "not allowed with" in last), last


# ---- a grader's failure, an interruption ---------------------------------------------------------------------
def test_a_grader_failure_is_a_failed_student_graded_again_next_time(tmp_path, monkeypatch):
    from vit_lessons.grading import engine

    root = tmp_path / "submissions"
    root.mkdir()
    for student in ("amy", "bea"):
        write_student(root / student, {})
    real = engine._grade

    def fail_for_bea(exercise, submission_dir, *args, **kwargs):
        if submission_dir.name == "bea":
            raise ValueError("filedescriptor out of range in select()")
        return real(exercise, submission_dir, *args, **kwargs)

    monkeypatch.setattr(engine, "_grade", fail_for_bea)
    out = tmp_path / "out"
    summary = classroom.grade_class(root, out, jobs=2, only=["pooling"], progress=False)
    assert summary.splitlines()[0].startswith("2 students: 1 graded, 0 unchanged since the last run, 1 failed")
    assert summary.exit_status == 1
    assert "not graded: bea: the grader failed on pooling (ValueError)" in summary, summary
    rows = {r[0]: r[1:] for r in read_csv(out / "grades.csv")[1:]}
    assert rows["amy"] == ["10", "10", ""] and rows["bea"][:2] == ["", ""] and "grader failed" in rows["bea"][2]
    report = (out / "report.html").read_text()
    assert "<tr><td>bea</td><td colspan='2'>not graded</td></tr>" in report
    monkeypatch.setattr(engine, "_grade", real)
    again = classroom.grade_class(root, out, jobs=2, only=["pooling"], progress=False)
    assert again.splitlines()[0].startswith("2 students: 1 graded, 1 unchanged since the last run, 0 failed")
    assert again.exit_status == 0
    assert {r[0]: r[1:] for r in read_csv(out / "grades.csv")[1:]}["bea"] == ["10", "10", ""]


def test_ctrl_c_stops_the_class_and_writes_what_is_done(tmp_path):
    root = tmp_path / "submissions"
    root.mkdir()
    students = [f"s{i}" for i in range(6)]
    for student in students:
        write_student(root / student, {})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vit_lessons.grade", "--class", str(root), "--out", str(out), "--jobs", "1",
               "--only", "pooling", "--only", "patchify", "--no-progress"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(out.glob("*/summary.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    rows = {r[0]: r[1:] for r in read_csv(out / "grades.csv")[1:]}
    assert sorted(rows) == students
    done = [s for s in students if rows[s][-1] == ""]
    assert 1 <= len(done) < len(students), rows
    assert all(rows[s] == ["10", "10", "20", ""] for s in done)
    assert all(rows[s][:3] == ["", "", ""] and rows[s][3].startswith("interrupted") for s in students
               if s not in done)
    assert stdout.strip().splitlines()[-1] == (f"interrupted: {len(done)} of {len(students)} graded; run the same "
                                               f"command again to go on")
    assert "interrupted" in (out / "report.html").read_text()
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(students) - len(done)} graded, {len(done)} unchanged since the last run" in again.stdout
    assert all(r[1:] == ["10", "10", "20", ""] for r in read_csv(out / "grades.csv")[1:])
