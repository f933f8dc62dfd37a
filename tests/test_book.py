"""The book: built once per session with the README's command, then every chapter's page checked.

The build executes every chapter (``execute_notebooks: cache``: a clean clone executes them all, a
second run reuses the cache in ``_build/.jupyter_cache``) and fails on any Sphinx warning, so a
cell that raises, a missing glue key or a broken reference fails here with the build's log.

The page conventions are checked on the sources and on the built pages: every chapter opens with its
objectives and has two or three "Try it" questions whose answers quote computed values; every figure
has a caption and alt text and its plotting code is folded; colour maps are one-ramp (greyscale- and
colour-blind-safe); every citation resolves to an entry of references.bib and every entry is cited.
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


REFERENCES = "book/references"  # the bibliography page: no code, no figures, no math


def pages() -> list[str]:
    """The executed pages: the introduction and every chapter (not the bibliography)."""
    return [name for name in chapters() if name != REFERENCES]


def numbered_chapters() -> list[str]:
    """The chapters proper: every page but the introduction (a map) and the bibliography."""
    return pages()[1:]


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


@pytest.mark.parametrize("docname", pages())
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


@pytest.mark.parametrize("docname", pages())
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



# ---- the page conventions: objectives, try-it questions, figures, citations, colour maps ------------------
CITE = re.compile(r"\{cite\}`([^`]+)`")
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", re.M | re.S)
OBJECTIVES = re.compile(r"\A(?:---\n.*?\n---\n)?\s*# [^\n]+\n\n"
                        r":::\{admonition\} In this chapter\n:class: objectives\n\n(?P<body>.*?)\n:::\n", re.S)
TRY_IT = re.compile(r"^::::\{admonition\} Try it: (?P<title>[^\n]+)\n:class: tryit\n\n(?P<body>.*?)^::::$", re.M | re.S)
# Colour maps readable in greyscale and with every common colour-vision deficiency (one luminance ramp)
READABLE_CMAPS = {"viridis", "cividis", "magma", "inferno", "plasma", "gray", "gray_r", "Greys", "binary"}


def source(docname: str) -> str:
    return (REPO / f"{docname}.md").read_text(encoding="utf-8")


def cells(text: str) -> list[tuple[dict, str]]:
    """(metadata, code) of every code cell of a MyST notebook: its YAML block or ``:tags:`` line, and its code."""
    out = []
    for body in CODE_CELL.findall(text):
        meta, code = {}, body
        if body.startswith("---\n"):
            head, _, code = body[4:].partition("\n---\n")
            meta = yaml.safe_load(head) or {}
        elif body.startswith(":tags:"):
            head, _, code = body.partition("\n")
            meta = {"tags": yaml.safe_load(head.split(":", 2)[2])}
        out.append((meta, code))
    return out


@pytest.mark.parametrize("docname", numbered_chapters())
def test_chapter_opens_with_its_objectives(docname):
    match = OBJECTIVES.match(source(docname))
    assert match, f"{docname}: no 'In this chapter' objectives block right under the title"
    bullets = re.findall(r"^- you will ", match["body"], re.M)
    assert 2 <= len(bullets) <= 4, f"{docname}: {len(bullets)} objectives, expected 2-4 '- you will ...' bullets"
    assert re.search(r"About \d+ minutes \(reading and running\)", match["body"]), f"{docname}: no duration"
    assert "Prerequisites:" in match["body"], f"{docname}: no prerequisites"


@pytest.mark.parametrize("docname", numbered_chapters())
def test_chapter_has_try_it_questions_answered_by_code(docname):
    text = source(docname)
    section = text.split("\n## Try it\n", 1)
    assert len(section) == 2, f"{docname}: no '## Try it' section"
    questions = list(TRY_IT.finditer(section[1]))
    assert 2 <= len(questions) <= 3, f"{docname}: {len(questions)} try-it questions, expected 2 or 3"
    for q in questions:
        assert "Predict" in q["body"], f"{docname}: try-it '{q['title']}' asks for no prediction"
        answer = re.search(r"^:::\{dropdown\} Answer\n(.*?)^:::$", q["body"], re.M | re.S)
        assert answer, f"{docname}: try-it '{q['title']}' has no Answer dropdown"
        assert "{glue:text}" in answer[1], f"{docname}: the answer to '{q['title']}' quotes no computed value"
        after = section[1][q.end():].lstrip()
        assert after.startswith("```{code-cell}"), f"{docname}: no code cell after try-it '{q['title']}'"


@pytest.mark.parametrize("docname", numbered_chapters())
def test_objectives_and_try_its_render(built_book, docname):
    main = article(page(built_book, docname))
    assert len(main.select(".admonition.objectives")) == 1, f"{docname}: objectives not rendered"
    questions = main.select(".admonition.tryit")
    assert 2 <= len(questions) <= 3, f"{docname}: {len(questions)} try-it boxes rendered"
    for box in questions:
        dropdown = box.select_one("details")
        assert dropdown is not None and "Answer" in dropdown.get_text(), f"{docname}: a try-it without its answer"
        assert dropdown.select(".pasted-text"), f"{docname}: an answer without a computed value"


@pytest.mark.parametrize("docname", pages())
def test_figure_cells_carry_a_caption_and_alt_text_and_fold_their_plotting(docname):
    for meta, code in cells(source(docname)):
        draws = re.search(r"\bplt\.(subplots|show|figure)\b|\bplots\.\w+\(", code)
        figure = (meta.get("mystnb") or {}).get("figure") or {}
        alt = ((meta.get("mystnb") or {}).get("image") or {}).get("alt", "")
        if figure or alt:
            assert len(str(figure.get("caption", ""))) > 20, f"{docname}: a figure without a caption:\n{code[:300]}"
            assert str(figure.get("name", "")).startswith("fig-"), f"{docname}: a figure without a fig- name"
            assert len(str(alt)) > 40, f"{docname}: a figure whose alt text says little:\n{code[:300]}"
        if draws and re.search(r"\bplt\.(subplots|figure)\b", code):   # matplotlib written on the page: folded
            assert set(meta.get("tags", [])) & {"hide-input", "remove-input"}, \
                f"{docname}: a plotting cell not folded (hide-input):\n{code[:300]}"


@pytest.mark.parametrize("docname", pages())
def test_every_figure_has_alt_text_and_a_caption(built_book, docname):
    main = article(page(built_book, docname))
    for cell in main.select(".cell"):
        images = cell.select(".cell_output img")
        assert len(images) <= 1, f"{docname}: {len(images)} figures in one cell (one figure per cell)"
        for img in images:
            assert len(img.get("alt", "").strip()) > 40, f"{docname}: a figure without alt text: {img['src'][:60]}"
            figure = img.find_parent("figure")
            assert figure is not None, f"{docname}: a figure without a caption (alt: {img['alt'][:60]})"
            caption = figure.select_one("figcaption")
            assert caption is not None and len(caption.get_text(strip=True)) > 20, f"{docname}: an empty caption"


@pytest.mark.parametrize("name", [*pages(), "vit_lessons/plots.py"])
def test_colour_maps_are_readable_in_greyscale(name):
    """Every colour map named in a chapter or in the plotting module is one of the one-ramp families, and no
    line or bar is coloured red or green (the pair colour-blind readers cannot tell apart)."""
    text = (REPO / name).read_text() if name.endswith(".py") else source(name)
    named = set(re.findall(r"""cmap\s*=\s*["']([^"']+)["']""", text))
    named |= set(re.findall(r"""CMAP\s*=\s*["']([^"']+)["']""", text))
    assert named <= READABLE_CMAPS, f"{name}: colour maps {sorted(named - READABLE_CMAPS)}"
    assert not re.search(r"""["'](red|green|#c44e52|#55a868)["']""", text), f"{name}: a red or green colour"


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,]+),", (REPO / "references.bib").read_text(), re.M))


def test_bibliography_has_the_books_sources_and_every_entry_is_cited():
    keys = bib_keys()
    required = {"dosovitskiy2021vit", "abnar2020rollout", "chefer2021transformer", "caron2021dino", "touvron2021deit",
                "steiner2022howtotrain", "beyer2022plain", "raghu2021vitsee", "darcet2024registers"}
    assert required <= keys, sorted(required - keys)
    cited = {key.strip() for name in chapters() for role in CITE.findall(source(name)) for key in role.split(",")}
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"
    assert keys <= cited, f"in references.bib but never cited: {sorted(keys - cited)}"
    for entry in re.split(r"\n(?=@)", (REPO / "references.bib").read_text()):
        if entry.startswith("@"):
            assert re.search(r"url\s*=\s*\{https://arxiv\.org/abs/\d{4}\.\d{5}\}", entry), entry[:80]


@pytest.mark.parametrize("docname", pages())
def test_every_citation_renders_as_a_link_to_its_entry(built_book, docname):
    roles = CITE.findall(source(docname))
    main = article(page(built_book, docname))
    links = [a for a in main.select("a.reference.internal") if "references.html#" in a.get("href", "")]
    assert len(links) >= sum(len(r.split(",")) for r in roles), f"{docname}: {len(roles)} citations, {len(links)} links"
    references = page(built_book, REFERENCES)
    for a in links:
        target = a["href"].split("#", 1)[1]
        assert references.find(id=target) is not None, f"{docname}: a citation links to a missing entry #{target}"
    for node in main.select("pre, code, .cell_input"):
        node.decompose()
    shown = main.get_text(" ")
    unresolved = [key for r in roles for key in r.split(",") if key.strip() in shown or "{cite}" in shown]
    assert not unresolved, f"{docname}: citations shown as their keys: {unresolved}"


def test_references_page_lists_every_entry_with_its_arxiv_link(built_book):
    main = article(page(built_book, REFERENCES))
    text = main.get_text(" ")
    for key in bib_keys():
        arxiv = re.search(rf"@\w+\{{{key},.*?url\s*=\s*\{{(https://arxiv\.org/abs/[\d.]+)\}}",
                          (REPO / "references.bib").read_text(), re.S)[1]
        assert main.find("a", href=arxiv) is not None or arxiv in text, f"{key}: {arxiv} not on the references page"
