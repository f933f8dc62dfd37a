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
import subprocess
import sys
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
    assert rows[0] == ["student", *(f"{EXERCISES[n].number:02d} {n}" for n in ONLY), "total"]
    by_id = {r[0]: r[1:] for r in rows[1:]}
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
    assert "2 graded" in summary, summary
    rows = {r[0]: r[1:] for r in read_csv(out / "grades.csv")[1:]}
    assert sorted(rows) == ["ann", "cat"]  # ben's only file was a link: no folder, no row
    [alone] = grade(root / "ann", only=["pooling"])
    assert rows["ann"] == [f"{alone.score:g}"] * 2
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
    assert "2 graded" in summary and "1 failed" in summary
    rows = {r[0]: r[1:] for r in read_csv(tmp_path / "out" / "grades.csv")[1:]}
    assert rows == {"amy": ["10", "10"], "bea": ["", ""], "cid": ["10", "10"]}
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
