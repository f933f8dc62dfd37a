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


def test_the_bundle_holds_every_file_its_book_names_and_a_learner_s_readme(tmp_path):
    """The bundle's book builds: every file its configuration, its table of contents and its chapters'
    includes name is in it (a missing bibliography fails a build with --warningiserror).  Its README leaves
    out what only instructors and maintainers run."""
    import re

    import yaml

    out = tmp_path / "bundle"
    release(out)
    config = yaml.safe_load((out / "_config.yml").read_text())
    named = list(config.get("bibtex_bibfiles", []))
    toc = (out / "_toc.yml").read_text()
    named += [next((f"{f}{s}" for s in ("", ".md", ".ipynb") if (out / f"{f}{s}").is_file()), f)
              for f in re.findall(r"file:\s*(\S+)", toc) + re.findall(r"^root:\s*(\S+)", toc, re.M)]
    for chapter in (out / "book").glob("*.md"):
        named += [str((chapter.parent / f).resolve().relative_to(out.resolve()))
                  for f in re.findall(r"\{(?:literalinclude|include|image|figure)\}`?\s+(\S+)", chapter.read_text())]
    assert len(named) > 20 and "references.bib" in named
    assert [f for f in named if not (out / f).is_file()] == []
    readme = (out / "README.md").read_text()
    assert 'check("vit_forward")' in readme and "jupyter-book build" in readme
    assert "Instructors grade" not in readme and "python -m pytest" not in readme and "instructor -->" not in readme
    assert "Instructors grade" in (REPO / "README.md").read_text()
