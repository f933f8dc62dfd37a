"""The attention explorer in a real browser, offline: on a static Jupyter Book page and live in JupyterLab.

Static: a one-page Jupyter Book (the book's own builder, execution on) shows three explorers: a plain
one, one with Python controls (which need a kernel and must degrade gracefully), and one at ViT-B/16's
attention size (197 tokens, 12 layers x 12 heads: the compact state), and chapter 4's attention
playground.  The page is opened in Debian's Chromium with the widget runtime served from npm/PyPI
copies (tests/browser.py); clicks and keys must change what is drawn, with no JavaScript error, and the
playground's numbers must be the library's softmax of what it shows.

Live: JupyterLab runs a notebook that shows an explorer; a click reaches Python (the ``query``
trait) and a change made in Python redraws the explorer.
"""

import json
import re
import subprocess
import sys
import time

import nbformat
import numpy as np
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
    playground_matches_the_library,
    playground_numbers,
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
        cy, cx, r = rng.integers(size // 4, size - size // 4, 2).tolist() + [size // 5]
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

```{code-cell} ipython3
# ViT-B/16's attention shape (197 tokens, 12 layers x 12 heads) on a narrow random model
big = V.ViTConfig(image_size=224, patch_size=16, d_model=48, num_heads=12, d_ff=96, num_layers=12, num_classes=0)
AttentionExplorer.from_model(V.init_params(big, seed=0), big, discs(1, size=224, seed=2))
```

```{code-cell} ipython3
from vit_lessons.widgets import AttentionPlayground

AttentionPlayground()
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
    widgets = [m for m in models.values() if m["model_name"] == "AnyModel"]
    explorers = [m for m in widgets if m["state"]["_esm"].startswith("// The attention explorer")]
    playgrounds = [m for m in widgets if m["state"]["_esm"].startswith("// The attention playground")]
    assert len(explorers) == 3 and len(playgrounds) == 1 and len(widgets) == 4  # the ES modules are in the state
    for m in explorers:
        assert {b["path"][0] for b in m["buffers"]} == {"images", "attention", "scales"}
    big = len(json.dumps(explorers[2]))
    page, state = len(html.encode()), len(state_text.encode())
    report = (f"one-page book built in {seconds:.1f} s; explorer.html {page} bytes, embedded widget state {state} "
              f"bytes (tiny model: 3 images + 2 images with Python controls; ViT-B/16's attention size: 1 image "
              f"{big} bytes; the playground)")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "widget_page_size.txt").write_text(report + "\n")
    print(report)
    assert page < 2_000_000 and state < 1_800_000 and big < 1_000_000, report


def test_explorer_works_on_the_static_page_in_chromium(site):
    html_dir, _ = site
    with serve_directory(html_dir) as base, chromium() as browser:
        session = open_page(browser, f"{base}/explorer.html")
        page = session.page
        assert wait_for_explorers(page, count=3) == 3
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


def test_explorer_keys_and_compact_state_in_chromium(site):
    """The arrow keys move the query patch (Home: back to the CLS token); at ViT-B/16's size every head
    keeps its CLS row only, and a patch query with a head chosen says so and shows the mean of the heads."""
    html_dir, _ = site
    with serve_directory(html_dir) as base, chromium() as browser:
        session = open_page(browser, f"{base}/explorer.html")
        page = session.page
        wait_for_explorers(page, count=3)
        canvas = page.locator("canvas.vitx-canvas").first
        start = canvas_digest(page)
        canvas.focus()
        page.keyboard.press("ArrowRight")                         # from the CLS token to patch (0, 0)
        first = canvas_digest(page)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowRight")                         # patch (1, 1)
        assert "patch (1, 1)" in page.locator(".vitx-info").first.inner_text()
        moved = canvas_digest(page)
        assert len({start, first, moved}) == 3
        page.keyboard.press("Home")
        assert canvas_digest(page) == start

        big = page.locator(".vitx").nth(2)
        assert big.locator("select.vitx-head option").nth(1).inner_text() == "head 1 (CLS row)"
        cls_mean = canvas_digest(page, 2)
        big.locator("select.vitx-head").select_option("3")       # head 4, CLS query: stored
        cls_head = canvas_digest(page, 2)
        assert cls_head != cls_mean and "stored for" not in big.locator(".vitx-info").inner_text()
        click_patch(page, 7, 7, index=2)                          # a patch query with a head chosen
        info = big.locator(".vitx-info").inner_text()
        assert "head 4 is stored for the CLS token's row only: showing the mean of heads" in info
        big.locator("select.vitx-head").select_option("-1")
        assert "stored for" not in big.locator(".vitx-info").inner_text()
        big.locator("select.vitx-mode").select_option("rollout")
        assert "rollout" in big.locator(".vitx-info").inner_text()
        big.screenshot(path=str(ARTIFACTS / "widget_explorer_b16.png"))
        assert session.errors == [], "\n".join(session.errors)


def test_playground_in_chromium(site):
    html_dir, _ = site
    with serve_directory(html_dir) as base, chromium() as browser:
        session = open_page(browser, f"{base}/explorer.html")
        page = session.page
        page.wait_for_selector(".vitp table.vitp-weights td[data-value]")
        start = playground_numbers(page)
        assert start["scale"] == pytest.approx(2 ** -0.5) and len(start["queries"]) == 4
        playground_matches_the_library(start)

        # keyboard: focus query 1 and move it right by 3 steps of 0.1 (and up by one step of 0.5 with Shift)
        handle = page.locator("g.vitp-queries").first
        assert "query of token 1" in handle.get_attribute("aria-label")
        handle.focus()
        for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Shift+ArrowUp"):
            page.keyboard.press(key)
        moved = playground_numbers(page)
        assert moved["queries"][0] == pytest.approx([start["queries"][0][0] + 0.3, start["queries"][0][1] + 0.5])
        assert moved["weights"][0] != start["weights"][0]
        playground_matches_the_library(moved)

        # the mouse: drag query 2 (drawn above key 2) to the plane's centre, (0, 0): its row becomes uniform
        query = page.locator("g.vitp-queries").nth(1)
        box, plane = query.bounding_box(), page.locator("svg.vitp-plane").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(plane["x"] + plane["width"] / 2, plane["y"] + plane["height"] / 2, steps=5)
        page.mouse.up()
        dragged = playground_numbers(page)
        assert np.abs(np.array(dragged["queries"][1])).max() <= 0.03
        assert np.ptp(playground_matches_the_library(dragged)[1]) < 0.05

        # typing a number into the table
        page.get_by_label("key of token 3, y").fill("-2.5")
        page.get_by_label("key of token 3, y").press("Enter")
        assert playground_numbers(page)["keys"][2][1] == -2.5

        # the scale: the 1/sqrt(d) and 1 buttons, then the slider's far ends (uniform and saturated rows)
        page.locator("button.vitp-one").click()
        assert playground_numbers(page)["scale"] == 1
        slider = page.get_by_label("scale α of the scores (log scale)")
        slider.focus()
        page.keyboard.press("Home")
        soft = playground_matches_the_library(playground_numbers(page))
        page.keyboard.press("End")
        hard = playground_matches_the_library(playground_numbers(page))
        assert playground_numbers(page)["scale"] == 16
        assert soft.max() < 0.4 and hard[[0, 2, 3]].max(axis=1).min() > 0.99  # (query 2 is at the origin)
        page.locator("g.vitp-queries").first.focus()              # selects query 1's row
        assert "query 1 puts 100.0%" in page.locator(".vitp-info").inner_text()
        assert "saturated" in page.locator(".vitp-info").inner_text()

        # a preset replaces the vectors
        page.get_by_label("preset").select_option("all keys alike (uniform weights)")
        uniform = playground_matches_the_library(playground_numbers(page))
        np.testing.assert_allclose(uniform, 0.25)
        page.locator(".vitp").screenshot(path=str(ARTIFACTS / "widget_playground.png"))
        assert session.errors == [], "\n".join(session.errors)


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
