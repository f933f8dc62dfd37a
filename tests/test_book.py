"""The book: built once per session with the README's command, then every chapter's page checked.

The build executes every chapter (``execute_notebooks: cache``: a clean clone executes them all, a
second run reuses the cache in ``_build/.jupyter_cache``) and fails on any Sphinx warning, so a
cell that raises, a missing glue key or a broken reference fails here with the build's log.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
# The README's `jupyter-book build . --warningiserror --keep-going`, with this interpreter's Jupyter Book.
BUILD_COMMAND = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(REPO),
                 "--warningiserror", "--keep-going"]

# Numbers typed into prose where a glue should be: decimals (0.75), thousands (50,176) and scientific
# notation (3e-06).  Math, code and glued values are not prose and are removed before the search.
TYPED_NUMBER = re.compile(r"(?<![\w./-])(?:\d+\.\d+|\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?e[-+]?\d+)(?![\w/])")


def chapters() -> list[str]:
    """The docnames of _toc.yml in reading order (``book/index``, ``book/01_patches``, ...)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        names += [entry["file"] for entry in part["chapters"]]
    return names


@functools.cache
def build_book() -> Path:
    """Build the whole book once per test process (every module that needs the site shares it); fail
    with the end of the log if the build fails or warns.  Returns ``_build/html``."""
    run = subprocess.run(BUILD_COMMAND, cwd=REPO, capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"jupyter-book build failed (exit {run.returncode}):\n{log[-6000:]}"
    assert "Finished generating HTML for book" in log, log[-6000:]
    warnings = [line for line in log.splitlines() if "WARNING:" in line]  # Sphinx's "path: WARNING: ..."
    assert not warnings, "\n".join(warnings)
    return HTML


@pytest.fixture(scope="session")
def built_book() -> Path:
    return build_book()


def page(built: Path, docname: str) -> BeautifulSoup:
    path = built / f"{docname}.html"
    assert path.exists(), f"{path} was not built"
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(soup: BeautifulSoup):
    main = soup.find("article", class_="bd-article")
    assert main is not None, "no article element"
    return main


@pytest.mark.parametrize("docname", chapters())
def test_page_has_figures_math_and_no_errors(built_book, docname):
    soup = page(built_book, docname)
    main = article(soup)
    # figures: output images from the executed cells, each an existing file or inline data
    images = [img["src"] for img in main.select(".cell_output img")]
    assert images, f"{docname}: no figure"
    for src in images:
        assert src.startswith("data:image/") or (built_book / docname).parent.joinpath(src).resolve().exists(), src
    # math rendered by MathJax on the page
    assert main.select(".math"), f"{docname}: no math"
    assert any("mathjax" in (s.get("src") or "") for s in soup.find_all("script")), f"{docname}: MathJax not loaded"
    # no error output, except in cells tagged raises-exception (they show a deliberate error)
    for cell in main.select(".cell"):
        if "tag_raises-exception" in cell.get("class", []):
            assert cell.select(".output.traceback"), f"{docname}: a raises-exception cell did not raise"
            continue
        assert not cell.select(".output.traceback, .output.stderr, .output.error"), \
            f"{docname}: error output:\n{cell.get_text()[:2000]}"
        assert "Traceback" not in cell.get_text(), f"{docname}: a traceback in the output"


@pytest.mark.parametrize("docname", chapters())
def test_glued_numbers_render_and_none_are_typed(built_book, docname):
    source = (REPO / f"{docname}.md").read_text(encoding="utf-8")
    roles = re.findall(r"\{glue:text\}`[^`]+`", source)  # the form the book uses; each renders a .pasted-text
    main = article(page(built_book, docname))
    pasted = main.select(".pasted-text")
    assert len(pasted) == len(roles), f"{docname}: {len(roles)} glue roles in the source, {len(pasted)} rendered"
    assert all(span.get_text(strip=True) for span in pasted), f"{docname}: an empty glued value"
    # the prose without math, code, glued values and cell outputs
    for node in main.select(".math, code, pre, .pasted-text, .cell, .highlight, script"):
        node.decompose()
    prose = " ".join(p.get_text(" ") for p in main.find_all(["p", "li", "td", "th"]))
    typed = TYPED_NUMBER.findall(prose)
    assert not typed, f"{docname}: numbers typed into the prose (glue them from the code): {typed}"


def test_every_chapter_of_the_toc_is_built_and_linked(built_book):
    index = page(built_book, "book/index")
    links = {a.get("href", "").split("#")[0] for a in index.select("nav a")}
    for docname in chapters()[1:]:
        assert (built_book / f"{docname}.html").exists(), docname
        assert f"{Path(docname).name}.html" in {Path(link).name for link in links}, f"{docname} not in the navigation"


def test_site_features(built_book):
    """Search box, repository link, download (.md and .ipynb) and launch (Binder, Colab) buttons, no thebe."""
    html = (built_book / "book" / "01_patches.html").read_text(encoding="utf-8")
    assert "search" in html.lower() and (built_book / "search.html").exists()
    assert "https://github.com/vit-lessons/vit-lessons" in html
    assert (built_book / "_sources" / "book" / "01_patches.md").exists()
    assert (built_book / "_sources" / "book" / "01_patches.ipynb").exists()
    assert "mybinder.org/v2/gh/vit-lessons/vit-lessons" in html
    assert "colab.research.google.com/github/vit-lessons/vit-lessons" in html
    assert "THEBE_JS_URL" not in html, "sphinx-thebe is loaded although the book does not use it"
