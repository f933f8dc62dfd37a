"""Write the learner's bundle: ``python -m vit_lessons.release OUT_DIR``.

The bundle holds the book's sources (``_config.yml``, ``_toc.yml``, ``book/``, the build's extension
``_ext/``), the ``vit_lessons`` package WITHOUT the grader's hidden tests (``vit_lessons/grading/hidden/``),
the exercise stubs (``exercises/``, with the public self-checks of ``vit_lessons.grading``), ``README.md``,
``LICENSE``, ``references.bib``, ``requirements*.txt`` and ``pyproject.toml``; its ``README.md`` leaves out the
parts for instructors and maintainers (between ``<!-- instructor -->`` and ``<!-- /instructor -->``: the
tests, grading, Gradescope, this command).  The chapters' solution boxes (dropdowns that
include ``solutions/``) are taken out of the bundle's copy of the book.  It never holds ``solutions/`` or the
hidden tests; ``tests/test_grading_release.py`` proves both absences.  OUT_DIR must not exist yet, or be empty.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILES = ("_config.yml", "_toc.yml", "README.md", "references.bib", "requirements.txt", "requirements-dev.txt",
         "pyproject.toml", "LICENSE")
#: the README's parts for instructors and maintainers, left out of the learner's copy
INSTRUCTOR_ONLY = re.compile(r"<!-- instructor -->\n.*?<!-- /instructor -->\n", re.S)
DIRS = ("book", "_ext", "vit_lessons", "exercises")
#: never copied, wherever they appear
EXCLUDED_DIRS = {"hidden", "__pycache__", "_build", ".ipynb_checkpoints", "solutions", ".pytest_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".ipynb")


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in EXCLUDED_DIRS or n.endswith(EXCLUDED_SUFFIXES) or n.endswith(".egg-info")}


def strip_solutions(markdown: str) -> str:
    """The chapter without its solution boxes: every ``:::{dropdown}`` ... ``:::`` block (any number of
    colons) that includes a file of ``solutions/`` is dropped, so the bundle's book neither shows nor
    needs the solutions."""
    out, block, fence = [], None, ""
    for line in markdown.splitlines(keepends=True):
        stripped = line.strip()
        if block is None and stripped.startswith(":::") and stripped.lstrip(":").startswith("{dropdown}"):
            block, fence = [line], stripped[:len(stripped) - len(stripped.lstrip(":"))]
        elif block is not None:
            block.append(line)
            if stripped == fence:
                text = "".join(block)
                if "solutions/" not in text:
                    out.append(text)
                block = None
        else:
            out.append(line)
    return "".join(out) + ("".join(block) if block else "")


def release(out_dir: Path, repo: Path = REPO) -> list[Path]:
    """Copy the learner's bundle into ``out_dir``; returns the files written (relative paths)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"OUT_DIR={out_dir}: exists and is not empty; expected a new or empty folder")
    if out_dir.resolve() == repo.resolve() or repo.resolve() in out_dir.resolve().parents:
        raise ValueError(f"OUT_DIR={out_dir}: inside the repository; expected a folder outside it")
    missing = [name for name in FILES if not (repo / name).is_file()]
    if missing:
        raise RuntimeError(f"the repository {repo} lacks {missing}: the bundle would be incomplete, not written")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(repo / name, out_dir / name)
    for name in DIRS:
        if (repo / name).is_dir():
            shutil.copytree(repo / name, out_dir / name, ignore=_ignore)
    for chapter in (out_dir / "book").glob("*.md"):
        chapter.write_text(strip_solutions(chapter.read_text()))
    (out_dir / "README.md").write_text(INSTRUCTOR_ONLY.sub("", (repo / "README.md").read_text()))
    leaked = [p for p in out_dir.rglob("*") if p.name in ("solutions", "hidden")]
    leaked += [p for p in (out_dir / "book").glob("*.md") if "../solutions/" in p.read_text()]
    if leaked:
        raise RuntimeError(f"the bundle would contain {leaked[0]}: not written")
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vit_lessons.release", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="a new (or empty) folder outside the repository")
    args = parser.parse_args(argv)
    try:
        files = release(args.out_dir)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{len(files)} files written to {args.out_dir} (no solutions, no hidden tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
