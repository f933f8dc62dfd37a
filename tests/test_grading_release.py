"""The learner's bundle holds the book, the library, the stubs and the self-checks: no solutions, no hidden tests."""

import subprocess
import sys

from vit_lessons.release import release

from .grading_helpers import REPO


def test_release_bundle_has_no_solutions_and_no_hidden_tests(tmp_path):
    out = tmp_path / "bundle"
    files = {str(p) for p in release(out)}
    assert "_config.yml" in files and "_toc.yml" in files and "vit_lessons/grading/selfcheck.py" in files
    assert "exercises/ex07_vit_forward.py" in files and "book/index.md" in files
    assert "_ext/parallel_chapters.py" in files  # the bundle's book builds with the same configuration
    assert "LICENSE" in files and "pyproject.toml" in files and "README.md" in files
    assert not (out / "solutions").exists()
    assert not (out / "vit_lessons" / "grading" / "hidden").exists()
    assert not any("solutions" in f or "/hidden" in f for f in files)
    assert not any("../solutions/" in (out / f).read_text() for f in files if f.endswith(".md"))
    solution_bodies = [line.strip() for p in (REPO / "solutions").glob("ex*.py")
                       for line in p.read_text().splitlines() if "p[\"head.weight\"]" in line]
    bundle_text = "\n".join((out / f).read_text(errors="ignore") for f in files)
    assert solution_bodies and not any(body in bundle_text for body in solution_bodies)
    from vit_lessons.grading.hidden import SEED

    assert str(SEED) not in bundle_text and f"{SEED:_}" not in bundle_text  # the hidden cases' one secret
    # in the bundle the self-check works and the grader says why it cannot run
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(out)}
    proc = subprocess.run([sys.executable, "-c", "import vit_lessons, sys; print(vit_lessons.__file__); "
                           "from vit_lessons.grading import check; sys.exit(check('patchify'))"],
                          cwd=out, env=env, capture_output=True, text=True, timeout=60)
    assert str(out) in proc.stdout and "not started yet" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-m", "vit_lessons.grade", "--results", "r.json"], cwd=out, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "hidden tests are not part of this copy" in proc.stderr
    assert (out / "r.json").exists()


def test_strip_solutions_drops_only_solution_boxes():
    from vit_lessons.release import strip_solutions

    text = ("intro\n::::{admonition} Exercise\nwrite it\n:::{dropdown} Solution\n```{literalinclude} "
            "../solutions/ex01_patchify.py\n```\n:::\n::::\n:::{dropdown} More\nkept\n:::\nend\n")
    out = strip_solutions(text)
    assert "solutions/" not in out and "write it" in out
    assert out.endswith("::::\n:::{dropdown} More\nkept\n:::\nend\n")
