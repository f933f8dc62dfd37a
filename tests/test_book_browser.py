"""Every page of the built book in a real browser (Debian's Chromium, headless, offline).

The site is served on 127.0.0.1; the CDN scripts the pages load (MathJax, require.js, the widget
manager, anywidget) are served from local copies obtained from the npm registry and the installed
wheels (tests/browser.py).  Each page must load without JavaScript errors, typeset its math, show
its figures, and draw every attention explorer it has; on a page with an explorer, clicking a
patch and pressing an arrow key on it must change the heat map, and on a page with the attention
playground (chapter 4) its weights must be the library's softmax of what it shows, before and after a
key moves a query.  A full-page screenshot of each page is kept under
artifacts/screenshots/ (a CI artefact, ignored by git).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .browser import (
    canvas_digest,
    chromium,
    click_patch,
    open_page,
    playground_matches_the_library,
    playground_numbers,
    require_chromium,
    serve_directory,
    wait_for_explorers,
)
from .test_book import REPO, build_book, pages

SCREENSHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def site_and_browser():
    require_chromium()
    site = build_book()
    with serve_directory(site) as base, chromium() as browser:
        yield base, browser


# Every control a widget draws, with its accessible name as a screen reader computes it from aria-label,
# aria-labelledby, a wrapping <label> or its own text; and whether Tab can reach it.
CONTROLS = """() => [...document.querySelectorAll(
    '.cell_output :is(input, select, button, textarea, [role=slider], [role=img][tabindex])')].map(e => ({
  tag: e.tagName.toLowerCase() + (e.type ? '[' + e.type + ']' : ''),
  name: (e.getAttribute('aria-label') || (e.labels && e.labels[0] ? e.labels[0].textContent : '')
         || e.textContent || '').trim(),
  reachable: e.tabIndex >= 0 && !e.disabled}))"""


@pytest.mark.parametrize("docname", pages())
def test_page_in_chromium(site_and_browser, docname):
    base, browser = site_and_browser
    session = open_page(browser, f"{base}/{docname}.html")
    page = session.page
    try:
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
        math_errors = page.locator("mjx-merror").count()
        images = page.evaluate("""() => [...document.querySelectorAll('.cell_output img')]
                                        .map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0}))""")
        # the book's widgets are anywidget models, told apart by their ES module's first line; other widgets
        # (e.g. a progress bar) are plain ipywidgets
        content = page.content()
        if re.search(r'"_esm":\s*"// The attention explorer', content):
            count = wait_for_explorers(page)
            before = canvas_digest(page)
            after = click_patch(page, row=1, col=1)
            assert count >= 1 and after != before, f"{docname}: clicking a patch did not change the explorer"
            page.locator("canvas.vitx-canvas").first.press("ArrowRight")
            assert canvas_digest(page) not in (before, after), f"{docname}: an arrow key did not move the query"
        if re.search(r'"_esm":\s*"// The attention playground', content):
            page.wait_for_selector(".vitp table.vitp-weights td[data-value]")
            start = playground_matches_the_library(playground_numbers(page))
            page.locator("g.vitp-queries").first.press("ArrowLeft")
            moved = playground_matches_the_library(playground_numbers(page))
            assert (moved != start).any(), f"{docname}: an arrow key did not move the playground's query"
            page.locator("button.vitp-one").click()
            assert playground_numbers(page)["scale"] == 1, f"{docname}: the playground's α = 1 button did nothing"
            playground_matches_the_library(playground_numbers(page))
        controls = page.evaluate(CONTROLS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(docname).name}.png"), full_page=True)
    finally:
        page.context.close()
    assert session.errors == [], f"{docname}: JavaScript errors or failed requests:\n" + "\n".join(session.errors)
    assert math_errors == 0, f"{docname}: {math_errors} formulas MathJax could not typeset"
    assert images, f"{docname}: no figure"
    assert all(i["ok"] for i in images), f"{docname}: figures that did not load: {[i for i in images if not i['ok']]}"
    unnamed = [c["tag"] for c in controls if not c["name"]]
    unreachable = [c["tag"] + " " + c["name"] for c in controls if not c["reachable"]]
    assert not unnamed, f"{docname}: widget controls without a label: {unnamed}"
    assert not unreachable, f"{docname}: widget controls the keyboard cannot reach: {unreachable}"


def test_the_book_embeds_its_widgets(site_and_browser):
    """The widget checks above run only where a widget is embedded: make sure the book has an explorer
    (chapter 9) and the playground (chapter 4)."""
    site = build_book()
    pages = {p.name: p.read_text() for p in site.rglob("*.html")}
    explorers = [name for name, html in pages.items() if re.search(r'"_esm":\s*"// The attention explorer', html)]
    assert "09_looking_inside.html" in explorers, f"pages with an AttentionExplorer: {explorers}"
    assert re.search(r'"_esm":\s*"// The attention playground', pages["04_attention.html"]), \
        "chapter 4 does not embed the AttentionPlayground"
