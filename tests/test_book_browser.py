"""Every page of the built book in a real browser (Debian's Chromium, headless, offline).

The site is served on 127.0.0.1; the CDN scripts the pages load (MathJax, require.js, the widget
manager, anywidget) are served from local copies obtained from the npm registry and the installed
wheels (tests/browser.py).  Each page must load without JavaScript errors, typeset its math, show
its figures, and draw every attention explorer it has; on a page with an explorer, clicking a
patch must change the heat map.  A full-page screenshot of each page is kept under
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
    require_chromium,
    serve_directory,
    wait_for_explorers,
)
from .test_book import REPO, build_book, chapters

SCREENSHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def site_and_browser():
    require_chromium()
    site = build_book()
    with serve_directory(site) as base, chromium() as browser:
        yield base, browser


@pytest.mark.parametrize("docname", chapters())
def test_page_in_chromium(site_and_browser, docname):
    base, browser = site_and_browser
    session = open_page(browser, f"{base}/{docname}.html")
    page = session.page
    try:
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
        math_errors = page.locator("mjx-merror").count()
        images = page.evaluate("""() => [...document.querySelectorAll('.cell_output img')]
                                        .map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0}))""")
        # explorers are the book's anywidget models; other widgets (e.g. a progress bar) are plain ipywidgets
        has_explorer = re.search(r'"_model_name":\s*"AnyModel"', page.content()) is not None
        if has_explorer:
            count = wait_for_explorers(page)
            before = canvas_digest(page)
            after = click_patch(page, row=1, col=1)
            assert count >= 1 and after != before, f"{docname}: clicking a patch did not change the explorer"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(docname).name}.png"), full_page=True)
    finally:
        page.context.close()
    assert session.errors == [], f"{docname}: JavaScript errors or failed requests:\n" + "\n".join(session.errors)
    assert math_errors == 0, f"{docname}: {math_errors} formulas MathJax could not typeset"
    assert images, f"{docname}: no figure"
    assert all(i["ok"] for i in images), f"{docname}: figures that did not load: {[i for i in images if not i['ok']]}"


def test_some_page_embeds_an_attention_explorer(site_and_browser):
    """The explorer pages above are exercised only where one is embedded: make sure the book has one."""
    site = build_book()
    pages = [p.name for p in site.rglob("*.html") if re.search(r'"_model_name":\s*"AnyModel"', p.read_text())]
    assert pages, "no page of the built book embeds an AttentionExplorer"
