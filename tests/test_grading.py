"""The grader: full marks for the solutions, zero for the stubs, the catalogue of known mistakes named,
forbidden calls refused, stubs generated from the solutions, the self-check."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from vit_lessons.grade import grade
from vit_lessons.grading import check, mistakes
from vit_lessons.grading.forbidden import violations
from vit_lessons.grading.make_stubs import stubs
from vit_lessons.grading.registry import EXERCISES

from .grading_helpers import REPO, SUBMISSIONS, assert_gradescope_schema, submission


def test_stubs_are_generated_from_the_solutions():
    generated = stubs(REPO / "solutions")
    assert sorted(generated) == sorted(e.file for e in EXERCISES.values())
    for name, text in generated.items():
        assert (REPO / "exercises" / name).read_text() == text, f"run python -m vit_lessons.grading.make_stubs ({name})"
        assert "raise NotImplementedError(" in text and "BEGIN SOLUTION" not in text


def test_solutions_score_full_marks_and_respect_their_rules():
    start = time.monotonic()
    results = grade(REPO / "solutions", timeout=60)
    assert [r.exercise.name for r in results] == list(EXERCISES)
    for r in results:
        assert r.score == r.max_score == 10, (r.exercise.name, r.verdict, r.hint)
        assert not violations((REPO / "solutions" / r.exercise.file).read_text(), list(r.exercise.all_rules))
    assert time.monotonic() - start < 60


def test_untouched_stubs_score_zero_and_results_json_is_valid(tmp_path):
    results = tmp_path / "out" / "results.json"
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--submission", str(REPO / "exercises"),
                           "--results", str(results)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert_gradescope_schema(data)
    assert data["score"] == 0 and len(data["tests"]) == len(EXERCISES)
    assert all("not attempted" in t["output"] for t in data["tests"])
    assert "Traceback" not in proc.stdout + json.dumps(data)


CATALOGUE = [(ex, path) for ex in ("vit_forward", "vit_forward_cls")
             for path in sorted((SUBMISSIONS / ex).glob("*.py"))]


@pytest.mark.parametrize(("name", "path"), CATALOGUE, ids=[f"{e}-{p.stem}" for e, p in CATALOGUE])
def test_catalogue_mistake_loses_points_and_is_named(tmp_path, name, path):
    folder = submission(tmp_path, path, EXERCISES[name].file)
    [result] = grade(folder, only=[name], timeout=60)
    mistake = path.stem.replace("ln_eps_1e_5", "ln_eps_1e-5")
    assert result.score < result.max_score, result.verdict
    assert mistakes.hint(mistake) in result.hint, (result.verdict, result.hint)


def test_every_required_mistake_has_a_catalogue_entry():
    required = {"no_pos_embed", "pos_before_cls", "post_ln", "no_final_ln", "mean_over_features", "cls_in_mean",
                "cls_instead_of_mean", "mean_instead_of_cls", "no_scale", "softmax_wrong_axis", "tanh_gelu",
                "ln_eps_1e-5", "heads_wrong_axis", "patch_order_cpp", "grid_transposed"}
    catalogued = {p.stem.replace("ln_eps_1e_5", "ln_eps_1e-5") for _, p in CATALOGUE}
    assert required <= catalogued


def test_the_oracle_without_mistake_is_the_library_model():
    import numpy as np

    import vit_lessons as V
    from vit_lessons.grading.oracle import CORRECT, vit

    image = np.random.default_rng(3).random((6, 10, 2))
    for pool in ("mean", "cls"):
        cfg = V.ViTConfig(image_size=(6, 10), channels=2, patch_size=2, d_model=16, num_heads=4, d_ff=24,
                          num_layers=2, num_classes=5, pool=pool)
        expected = V.forward({k: v.astype(np.float64) for k, v in V.init_params(cfg, 7).items()}, image, cfg)
        got = vit(CORRECT, 7, image, 2, 16, 4, 24, 2, 5, pool=pool)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_forbidden_calls_are_refused_through_aliases(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex04_attention.py").write_text(
        "from torch.nn import functional as F\n\n\n"
        "def scaled_dot_product_attention(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v)\n\n\n"
        "def multi_head_attention(x, params, num_heads):\n    return getattr(__import__('vit_lessons'), "
        "'multi_head_attention')(x, params, '', num_heads)\n")
    [result] = grade(folder, only=["attention"], timeout=30)
    assert result.score == 0 and "not allowed" in result.verdict + result.hint
    assert "F.scaled_dot_product_attention" in result.hint and "line 5" in result.hint


def test_self_check_verdicts(tmp_path, capsys):
    for name in EXERCISES:
        assert check(name, submission=REPO / "solutions") is True
    assert "Well done" in capsys.readouterr().out
    assert check("vit_forward", submission=REPO / "exercises") is False
    assert "not started yet" in capsys.readouterr().out
    folder = submission(tmp_path, SUBMISSIONS / "vit_forward" / "post_ln.py")
    assert check("vit_forward", submission=folder) is False
    out = capsys.readouterr().out
    assert "FAIL" in out and mistakes.hint("post_ln") in out


def test_self_check_from_the_shell_times_out_an_endless_loop(tmp_path):
    folder = submission(tmp_path, SUBMISSIONS / "hostile" / "infinite_loop.py")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grading", "check", "vit_forward", "--submission",
                           str(folder), "--timeout", "3"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 3 + 15
    assert proc.returncode == 1 and "time limit" in proc.stdout
    assert "their share of the grader's 3 s for its 22 tests" in proc.stdout


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_self_check_gives_its_tests_their_share_of_the_grader_s_time(name):
    """The grader runs every kind of case twice within one time limit: code fast enough for the self-check's
    budget is fast enough there (a correct file taking 41 s for its 8 public tests once had "Well done", then
    timed out in the grader)."""
    from vit_lessons.grading import hidden
    from vit_lessons.grading.registry import graded_case_count, public_cases
    from vit_lessons.grading.selfcheck import time_budget

    graded = len(hidden.cases(name))
    assert graded_case_count(name) == graded == len(hidden.cases(name, b"any submission"))
    assert time_budget(name, 60) == pytest.approx(60 * len(public_cases(name)) / graded)
    assert time_budget(name, 60) <= 30.5


def test_star_imports_of_a_forbidden_package_are_refused():
    from vit_lessons.grading.registry import EXERCISES as E

    found = violations("from vit_lessons import *\n\nx = forward\n", list(E["vit_forward"].all_rules))
    assert found and "import *" in found[0]


def test_diagnostics_come_in_order():
    import numpy as np

    from vit_lessons.grading.diagnostics import compare
    from vit_lessons.grading.sandbox import Other

    expected = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    assert compare(None, expected)[1:] == ("the output is None: did you forget to `return` it?", "returns_none")
    assert compare([1.0, 2.0, 3.0, 4.0], expected)[2] == "not_an_array"
    assert "is list: expected a numpy array" in compare([1.0, 2.0, 3.0, 4.0], expected)[1]
    assert "is str: expected" in compare(Other("str"), expected)[1]
    assert compare(np.zeros(8, np.float32), expected)[1] == "the output has shape (8,): expected (4,)"
    assert "dtype int64" in compare(np.arange(4), expected)[1] and compare(np.arange(4), expected)[2] == \
        "integer_output"
    assert "1 NaN or infinite" in compare(np.array([1, 2, np.nan, 4], np.float32), expected)[1]
    ok, message, _ = compare(np.array([1, 2, 3.5, 4], np.float32), expected)
    assert not ok and "largest |difference| 0.5 at index (2,)" in message and "1 of 4 entries (25%)" in message
    ok, message, problem = compare(expected.astype(np.float64), expected, given="float32")
    assert not ok and problem == "float64_result", message  # every docstring promises the input's dtype
    assert message == ("the output: float64 result for a float32 input: return float32, the input's dtype (the "
                       "values are right at float32 precision)")


def test_torch_tensors_are_accepted(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex06_pooling.py").write_text(
        "import torch\n\n\ndef pool(x, mode, num_prefix_tokens=0):\n    t = torch.from_numpy(x)\n"
        "    return t[..., 0, :] if mode == 'cls' else t[..., num_prefix_tokens:, :].mean(-2)\n")
    [result] = grade(folder, only=["pooling"], timeout=60)
    assert result.score == result.max_score, result.hint


def test_the_grader_cannot_be_borrowed(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "ex06_pooling.py").write_text("from helper import pool  # noqa: F401\n")
    (folder / "helper.py").write_text(  # the helpers an exercise imports are read with the exercise's rules
        "from vit_lessons.grading.oracle import CORRECT, pool as oracle_pool\n\n\n"
        "def pool(x, mode, num_prefix_tokens=0):\n"
        "    return oracle_pool(x, mode, num_prefix_tokens)\n")
    [result] = grade(folder, only=["pooling"], timeout=30)
    assert result.score == 0 and "helper.py (imported by ex06_pooling.py), line 1" in result.hint \
        and "the grader is not part" in result.hint
    (folder / "helper.py").write_text(  # ... and the grader is not in the learner's process at all
        "import sys\n\n\ndef pool(x, mode, num_prefix_tokens=0):\n"
        "    name = '.'.join(['vit_lessons', 'grad' + 'ing', 'ora' + 'cle'])\n"
        "    __builtins__['__imp' + 'ort__'](name)\n"
        "    return sys.modules[name].pool(x, mode, num_prefix_tokens)\n")
    [result] = grade(folder, only=["pooling"], timeout=30)
    # the learner's library holds only the self-check's stub of the grader
    assert result.score == 0 and "No module named 'vit_lessons.grading.oracle'" in result.hint, result.hint
    (folder / "ex06_pooling.py").write_text("from vit_lessons.grading import oracle  # noqa: F401\n")
    [result] = grade(folder, only=["pooling"], timeout=30)
    assert result.score == 0 and "the grader is not part of any exercise" in result.hint


OTHERS = sorted((SUBMISSIONS / "other").glob("ex*__*.py"))


@pytest.mark.parametrize("path", OTHERS, ids=[p.stem for p in OTHERS])
def test_known_mistakes_of_the_other_exercises_are_named(tmp_path, path):
    stem, mistake = path.stem.split("__")
    ex = next(e for e in EXERCISES.values() if e.file == stem + ".py")
    folder = submission(tmp_path, path, ex.file)
    [result] = grade(folder, only=[ex.name], timeout=60)
    assert result.score < result.max_score
    assert mistakes.hint(mistake) in result.hint, (result.verdict, result.hint)


# ---- an exercise file that is not where the grader reads it ----------------------------------------------------
MISPLACED = [
    ({"HW1/ex01_patchify.py": "x"}, "ex01_patchify.py",
     "found HW1/ex01_patchify.py in a folder: submit the files themselves, not their folder"),
    ({"ex06_pooling.ipynb": "{}"}, "ex06_pooling.py",
     "found ex06_pooling.ipynb: the grader grades the Python file ex06_pooling.py (File > Download as > Python, "
     "or copy your functions into it)"),
    ({"Ex01_Patchify.py": "x"}, "ex01_patchify.py",
     "found Ex01_Patchify.py: name it ex01_patchify.py exactly (the grader looks for that name, in small letters)"),
    ({"ex1_patchify.py": "x"}, "ex01_patchify.py", "found ex1_patchify.py: name it ex01_patchify.py exactly"),
    ({"ex01_patchify (1).py": "x"}, "ex01_patchify.py", "found ex01_patchify (1).py: name it ex01_patchify.py"),
    ({"a/b/HW 1/ex01-patchify copy.py": "x"}, "ex01_patchify.py",
     "found a/b/HW 1/ex01-patchify copy.py in a folder: name it ex01_patchify.py exactly (the grader looks for "
     "that name, in small letters); submit the files themselves, not their folder"),
    ({"HW1/ex01_patchify.py": "x", "ex01_patchify.ipynb": "{}"}, "ex01_patchify.py",
     "found ex01_patchify.ipynb: the grader grades"),  # the nearest first
    ({"a/b/c/d/ex01_patchify.py": "x"}, "ex01_patchify.py", ""),  # deeper than it looks
    ({"ex02_patch_embedding.py": "x", "notes/ex01_patchify.txt": "x"}, "ex01_patchify.py", ""),
]


def _tree(root, files: dict):
    root.mkdir()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("files, file, said", MISPLACED)
def test_what_is_there_in_place_of_a_missing_exercise_file_is_named(tmp_path, files, file, said):
    from vit_lessons.grading.staging import misplaced

    found = misplaced(_tree(tmp_path / "sub", files), file)
    assert found.startswith(said) if said else found == ""


def test_the_search_for_a_missing_file_follows_no_link_and_looks_at_a_bounded_number_of_entries(tmp_path):
    from vit_lessons.grading import staging

    elsewhere = _tree(tmp_path / "elsewhere", {"ex01_patchify.py": "x"})
    linked = _tree(tmp_path / "linked", {})
    (linked / "HW1").symlink_to(elsewhere)
    (linked / "ex01_patchify.ipynb").symlink_to(elsewhere / "ex01_patchify.py")
    assert staging.misplaced(linked, "ex01_patchify.py") == ""
    crowded = _tree(tmp_path / "crowded", {f"f{i}.py": "" for i in range(staging.LOOK_ENTRIES + 10)})
    (crowded / "zz").mkdir()
    (crowded / "zz" / "ex01_patchify.py").write_text("x")
    assert staging.misplaced(crowded, "ex01_patchify.py") == ""  # past the entries it looks at
    assert staging.misplaced(tmp_path / "nowhere", "ex01_patchify.py") == ""
    assert staging.misplaced(elsewhere / "ex01_patchify.py", "ex01_patchify.py") == ""  # a file: no folder


def test_the_grader_and_the_self_check_say_where_the_exercise_file_was(tmp_path, capsys):
    folder = _tree(tmp_path / "sub", {"HW1/ex01_patchify.py": (REPO / "solutions" / "ex01_patchify.py").read_text(),
                                      "ex06_pooling.ipynb": "{}"})
    results = {r.exercise.name: r for r in grade(folder, only=["patchify", "pooling"], timeout=30)}
    assert results["patchify"].score == 0 and results["patchify"].verdict == (
        "ex01_patchify.py not found in the submission; found HW1/ex01_patchify.py in a folder: submit the files "
        "themselves, not their folder")
    assert results["pooling"].verdict.startswith("ex06_pooling.py not found in the submission; found "
                                                 "ex06_pooling.ipynb: the grader grades the Python file")
    assert check("patchify", submission=folder) is False
    assert "found HW1/ex01_patchify.py in a folder" in capsys.readouterr().out


def test_a_class_zip_keeps_the_names_of_what_it_does_not_grade_for_the_feedback(tmp_path):
    import zipfile

    from vit_lessons.grading.classroom import extract_class

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ann/HW1/ex01_patchify.py", "secret = 1\n")
        zf.writestr("ann/ex06_pooling.ipynb", "{}")
        zf.writestr("ann/ex02_patch_embedding (1).py", "x = 1\n")
        zf.writestr("ann/ex03_positional_embedding.py", "x = 1\n")
        zf.writestr("ann/a/b/c/d/ex04_attention.py", "x = 1\n")
    root, refused = extract_class(archive, tmp_path / "class")
    ann = root / "ann"
    assert refused == []
    assert (ann / "ex03_positional_embedding.py").read_text() == "x = 1\n"
    for name in ("HW1/ex01_patchify.py", "ex06_pooling.ipynb", "ex02_patch_embedding (1).py"):
        assert (ann / name).read_bytes() == b"", name  # the name only
    assert not (ann / "a" / "b" / "c" / "d").exists()


# ---- a self-check with no folder to read ---------------------------------------------------------------------------
def test_the_self_check_outside_a_clone_says_where_it_looked_and_what_to_pass(tmp_path, monkeypatch, capsys):
    """After a regular install (no exercises/ beside the library) and in a folder with no exercises/."""
    import vit_lessons

    monkeypatch.setattr(vit_lessons, "__file__", str(tmp_path / "site-packages" / "vit_lessons" / "__init__.py"))
    monkeypatch.chdir(tmp_path)
    assert check("pooling") is False
    captured = capsys.readouterr()
    assert (f"Exercise 06 pooling: could not be checked: no exercises/ folder in {tmp_path} or its parents: pass "
            f"submission='path/to/your/exercises' (the folder that holds ex06_pooling.py).") in captured.out
    assert "Traceback" not in captured.out + captured.err and "ask your instructor" not in captured.out
    shutil.copy(REPO / "solutions" / "ex06_pooling.py", tmp_path / "ex06_pooling.py")  # a notebook's folder
    assert check("pooling") is True


def test_the_self_check_given_a_wrong_path_names_it_and_a_file_path_means_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert check("pooling", submission="nope") is False
    out = capsys.readouterr().out
    assert (f"could not be checked: submission='nope': no such folder (from {tmp_path}): pass the folder that holds "
            f"ex06_pooling.py, e.g. submission='exercises'") in out
    shutil.copy(REPO / "solutions" / "ex06_pooling.py", tmp_path / "ex06_pooling.py")
    (tmp_path / "notes.ipynb").write_text("{}")
    assert check("pooling", submission="notes.ipynb") is False
    assert ("submission='notes.ipynb' is a file, not a folder: pass the folder that holds ex06_pooling.py (or the "
            "path of ex06_pooling.py itself)") in capsys.readouterr().out
    assert check("pooling", submission="ex06_pooling.py") is True
    assert check("pooling", submission=tmp_path / "ex06_pooling.py") is True


def test_the_grader_given_no_folder_says_so_without_failing(tmp_path):
    from vit_lessons.grading.engine import answers_for, grade_exercise
    from vit_lessons.grading.registry import public_cases

    ex = EXERCISES["pooling"]
    result = grade_exercise(ex, tmp_path / "nope", answers_for(ex, "public", public_cases), timeout=10)
    assert result.score == 0 and result.verdict == f"no submission folder {tmp_path / 'nope'}"


def test_the_self_check_says_when_it_shows_only_the_first_lines_printed():
    from vit_lessons.grading.selfcheck import SHOWN_LINES, printed

    assert printed("\n".join(map(str, range(25)))) == (f"Your code printed (first {SHOWN_LINES} of 25 lines):\n"
                                                       + "\n".join(map(str, range(20))))
    assert printed("a\nb\n") == "Your code printed:\na\nb"
    assert printed("\n".join(map(str, range(20)))).startswith("Your code printed:\n0\n")


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "abc"])
def test_the_self_check_refuses_a_time_limit_that_is_none(timeout):
    """A time limit of 0 once timed out every test and blamed the learner's imports."""
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grading", "check", "pooling", "--timeout", timeout],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"--timeout {timeout}: expected a number of seconds > 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    with pytest.raises(ValueError, match=r"timeout=0: expected a number of seconds > 0"):
        check("pooling", submission=REPO / "solutions", timeout=0)
