"""The attention explorer in a real browser, offline: on a static Jupyter Book page and live in JupyterLab.

Static: a one-page Jupyter Book (the book's own builder, execution on) shows two explorers: a plain
one, and one with Python controls (which need a kernel and must degrade gracefully).  The page is
opened in Debian's Chromium with the widget runtime served from npm/PyPI copies
(tests/browser.py); a click on a patch must change the drawn heat map, with no JavaScript error.

Live: JupyterLab runs a notebook that shows an explorer; a click reaches Python (the ``query``
trait) and a change made in Python redraws the explorer.
"""

import json
import re
import subprocess
import sys
import time

import nbformat
import pytest

from .browser import (
    REPO,
    RUN_ALL,
    canvas_colours,
    canvas_digest,
    chromium,
    click_patch,
    jupyter_lab,
    lab_execute,
    open_page,
    require_chromium,
    serve_directory,
    strip_cdn_integrity,
    wait_for_explorers,
)

ARTIFACTS = REPO / "artifacts"

# The book's settings that the widgets need (see the widget section of the README): no
# sphinx-thebe, widget runtime loaded from the CDN only, and an explicit theme mode.
CONFIG = """\
title: Attention explorer
only_build_toc_files: true
execute:
  execute_notebooks: cache
  timeout: 120
  allow_errors: false
launch_buttons:
  thebe: false
sphinx:
  config:
    extensions: [sphinx_togglebutton, sphinx_copybutton, myst_nb, jupyter_book, sphinx_comments,
                 sphinx_external_toc, sphinx.ext.intersphinx, sphinx_design, sphinx_book_theme]
    html_context:
      default_mode: auto
    nb_ipywidgets_js:
      "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js":
        integrity: "sha256-Ae2Vz/4ePdIu6ZyI/5ZGsYnb+m0JlOmKPjt6XZ9JJkA="
        crossorigin: anonymous
      "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js":
        data-jupyter-widgets-cdn: "https://cdn.jsdelivr.net/npm/"
        data-jupyter-widgets-cdn-only: "true"
        crossorigin: anonymous
"""

PAGE = '''\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# Attention explorer

```{code-cell} ipython3
import numpy as np
import vit_lessons as V
from vit_lessons.widgets import AttentionExplorer, explorer_with_controls

def discs(n, size=32, seed=0):
    """(n, size, size, 3): a coloured disc on a dark noisy background, at a different place each time."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = 0.15 * rng.random((n, size, size, 3))
    for i in range(n):
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [6]
        out[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.uniform(0.5, 1.0, 3)
    return out.astype(np.float32)

cfg = V.preset("tiny")
params = V.init_params(cfg, seed=0)
images = discs(3)
AttentionExplorer.from_model(params, cfg, images, names=["disc 1", "disc 2", "disc 3"])
```

```{code-cell} ipython3
mean_cfg = cfg.replace(pool="mean")
models = {"CLS pooling": (cfg, params), "mean pooling": (mean_cfg, V.init_params(mean_cfg, seed=1))}
explorer_with_controls(models, discs(4, seed=1), per_view=2)
```
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A one-page Jupyter Book built (and executed) the way the book is; returns (html dir, seconds)."""
    require_chromium()
    root = tmp_path_factory.mktemp("explorer_book")
    (root / "_config.yml").write_text(CONFIG)
    (root / "_toc.yml").write_text("format: jb-book\nroot: explorer\n")
    (root / "explorer.md").write_text(PAGE)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
                          "--warningiserror", "--keep-going"], capture_output=True, text=True, timeout=300, cwd=REPO)
    seconds = time.perf_counter() - start
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return root / "_build" / "html", seconds


def embedded_state(html: str) -> str:
    m = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    assert m, "no embedded widget state on the page"
    return m.group(1)


def test_static_page_embeds_compact_widget_state(site):
    html_dir, seconds = site
    html = (html_dir / "explorer.html").read_text(encoding="utf-8")
    state_text = embedded_state(html)
    models = json.loads(state_text)["state"]
    explorers = [m for m in models.values() if m["model_name"] == "AnyModel"]
    assert len(explorers) == 2
    for m in explorers:
        assert m["state"]["_esm"].startswith("// The attention explorer")  # the ES module is in the state
        assert {b["path"][0] for b in m["buffers"]} == {"images", "attention"}
    page, state = len(html.encode()), len(state_text.encode())
    report = (f"one-page book built in {seconds:.1f} s; explorer.html {page} bytes, embedded widget state {state} "
              f"bytes (tiny model: 3 images + 2 images with Python controls)")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "widget_page_size.txt").write_text(report + "\n")
    print(report)
    assert page < 2_000_000 and state < 1_000_000, report


def test_explorer_works_on_the_static_page_in_chromium(site):
    html_dir, _ = site
    with serve_directory(html_dir) as base, chromium() as browser:
        session = open_page(browser, f"{base}/explorer.html")
        page = session.page
        assert wait_for_explorers(page, count=2) == 2
        start = canvas_digest(page)
        assert canvas_colours(page) > 100  # an image under a heat map, not a blank canvas

        seen = {start}
        for row, col in [(2, 3), (6, 1)]:
            after = click_patch(page, row, col)
            assert after not in seen, f"clicking patch ({row}, {col}) did not change the heat map"
            seen.add(after)
        explorer = page.locator(".vitx").first
        explorer.locator("button.vitx-cls").click()
        assert canvas_digest(page) == start  # the page opens on the CLS token as the query
        for action in [lambda: explorer.locator("button[data-dir=column]").click(),
                       lambda: explorer.locator("select.vitx-mode").select_option("rollout"),
                       lambda: explorer.locator("select.vitx-image").select_option("2")]:
            action()
            digest = canvas_digest(page)
            assert digest not in seen
            seen.add(digest)
        assert "rollout" in explorer.locator(".vitx-info").inner_text()

        # the explorer under Python controls: the controls say they need a kernel, and the explorer's own
        # interactions work without one
        second = page.locator(".vitx").nth(1)
        assert "do nothing" in page.locator(".widget-html").first.inner_text()
        before = canvas_digest(page, 1)
        assert click_patch(page, 0, 0, index=1) != before

        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".vitx").first.screenshot(path=str(ARTIFACTS / "widget_explorer.png"))
        page.screenshot(path=str(ARTIFACTS / "widget_page.png"), full_page=True)
        assert second.locator("canvas.vitx-canvas").count() == 1

        assert session.errors == [], "\n".join(session.errors)
        assert session.blocked == [], f"requests to the outside (aborted): {session.blocked}"
        served = " ".join(session.served)
        for needed in ["require.min.js", "html-manager@1.0.6/dist/embed-amd.js", "anywidget@"]:
            assert needed in served, f"{needed} was not loaded: {session.served}"


def test_only_the_substituted_scripts_lose_their_integrity_hash(site):
    # npm's require.js is not byte-identical to the CDN's minified file: its SRI hash must go when served
    html = (site[0] / "explorer.html").read_text(encoding="utf-8")
    fixed, stripped = strip_cdn_integrity(html)
    assert stripped == ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"]
    assert fixed.count("integrity=") == html.count("integrity=") - 1


LIVE_CELL = """\
import numpy as np
import vit_lessons as V
from vit_lessons.widgets import AttentionExplorer

cfg = V.preset("tiny")
images = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
w = AttentionExplorer.from_model(V.init_params(cfg, seed=0), cfg, images)
w
"""


def test_explorer_works_live_in_jupyterlab(tmp_path):
    require_chromium()
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LIVE_CELL)], metadata={"kernelspec": kernelspec})
    nbformat.write(nb, tmp_path / "live.ipynb")
    with jupyter_lab(tmp_path) as (base, token), chromium() as browser:
        session = open_page(browser, f"{base}/lab/tree/live.ipynb?token={token}", viewport=(1300, 1000))
        page = session.page
        page.wait_for_function("window.jupyterapp?.shell?.currentWidget?.context?.path === 'live.ipynb'",
                               timeout=60_000)
        page.evaluate(RUN_ALL)
        wait_for_explorers(page, timeout_ms=90_000)
        before = canvas_digest(page)
        after = click_patch(page, 3, 4)
        assert after != before
        # the click reached Python: the query is patch (3, 4)'s token, 1 + 3 * 8 + 4 (token 0 is the CLS token)
        assert lab_execute(page, "print(w.query)").strip() == "29"
        # and Python drives the view
        lab_execute(page, "w.layer = 2; w.head = 1; w.direction = 'column'")
        page.wait_for_function("document.querySelector('select.vitx-layer').value === '2'")
        assert page.locator("select.vitx-head").input_value() == "1"
        assert canvas_digest(page) not in (before, after)
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".vitx").first.screenshot(path=str(ARTIFACTS / "widget_explorer_live.png"))
        assert session.errors == [], "\n".join(session.errors)
        assert session.blocked == [], f"requests to the outside (aborted): {session.blocked}"
