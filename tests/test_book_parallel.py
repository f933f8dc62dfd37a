"""The book's build executes chapters side by side (``_ext/parallel_chapters.py``), and stays correct doing so.

A small book of six one-cell pages, built with the project's own extension and execution settings: it
must be read in parallel on a machine of two or more cores, build cleanly from an empty cache twice in a
row (the readers once raced to create the execution cache's tables, failing most clean builds), give
each kernel its share of the cores, and still fail on a cell that raises.

Each page's code differs (it prints its own number): jupyter-cache keys a notebook by its code cells
alone and records a cache entry before writing its notebook, so two pages of identical code read side
by side could match an entry whose file is not written yet.  A book's chapters never share all their code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = 6
CONFIG = """title: parallel
execute:
  execute_notebooks: cache
  allow_errors: false
sphinx:
  local_extensions:
    parallel_chapters: _ext
"""
PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# Page {i}

```{{code-cell}} ipython3
import os
print("page {i}, threads", os.environ.get("OMP_NUM_THREADS"))
{extra}
```
"""

CORES = len(os.sched_getaffinity(0))


def small_book(root: Path, *, raising: int | None = None) -> Path:
    """Six pages under ``root``, page ``raising`` (if any) with a cell that raises."""
    shutil.copytree(REPO / "_ext", root / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "book").mkdir()
    for i in range(1, PAGES + 1):
        extra = 'raise ValueError("this page fails")' if i == raising else ""
        (root / "book" / f"p{i}.md").write_text(PAGE.format(i=i, extra=extra))
    (root / "_config.yml").write_text(CONFIG)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/p1\nchapters:\n"
                                   + "".join(f"  - file: book/p{i}\n" for i in range(2, PAGES + 1)))
    return root


def build(root: Path) -> subprocess.CompletedProcess:
    """The README's build command on ``root``, from an empty ``_build``."""
    shutil.rmtree(root / "_build", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
                           str(root), "--warningiserror", "--keep-going"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(CORES < 2, reason="one core: the build reads its pages one after another")
def test_clean_builds_read_the_pages_in_parallel_and_succeed(tmp_path):
    root = small_book(tmp_path)
    for attempt in range(2):
        run = build(root)
        log = run.stdout + run.stderr
        assert run.returncode == 0, f"clean build {attempt + 1} failed:\n{log[-3000:]}"
        assert "doing serial read" not in log
        assert "book/p1 .. " in log, "the pages were not read in chunks side by side"
    page = (root / "_build" / "html" / "book" / "p3.html").read_text()
    assert "page 3, threads 1" in page  # one reader per core, so one thread for each kernel


def test_a_cell_that_raises_still_fails_the_build(tmp_path):
    run = build(small_book(tmp_path, raising=4))
    assert run.returncode != 0
    assert "book/p4" in run.stdout + run.stderr  # the failing page is named (its traceback in the report)
