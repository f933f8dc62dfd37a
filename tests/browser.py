"""Real-browser test helpers: open the book's static pages in Debian's Chromium, offline.

A page built by Jupyter Book 1 (myst-nb) or nbconvert that shows widgets embeds their state and loads
require.js and the widget manager (``@jupyter-widgets/html-manager``'s ``embed-amd.js``) from CDNs;
the widget manager then loads anywidget's AMD bundle from a CDN too.  Here nothing comes from a CDN:

- :func:`npm_package` fetches a package from the npm registry with ``npm pack`` (once, cached under
  ``artifacts/widget-runtime/``, which git ignores), :func:`anywidget_amd` is the AMD bundle that ships
  in anywidget's wheel (``anywidget/nbextension/index.js``, the same file as npm's
  ``anywidget/dist/index.js``), and :func:`local_copy` maps a CDN address to such a file;
- :func:`serve_directory` serves a built site on 127.0.0.1 and removes the SRI ``integrity`` attribute
  of the CDN scripts it substitutes (npm's ``require.js`` is not byte-identical to the CDN's minified
  file, so the browser would refuse it);
- :func:`open_page` routes CDN requests (the widget runtime, MathJax, ...) to the local copies, aborts
  every other request to the outside (listed in ``blocked``), and collects JavaScript errors (uncaught
  exceptions and ``console.error``) and failed same-site requests, each with an explicit allow-list of
  known harmless ones (:data:`KNOWN_HARMLESS`, :data:`KNOWN_MISSING`; what they let through is listed
  in ``allowed``);
- :func:`click_patch` and :func:`canvas_digest` drive an :class:`AttentionExplorer` on the page;
- :func:`jupyter_lab` runs a JupyterLab server (live kernels) for the live-Jupyter tests, and
  :func:`lab_execute` runs code in the kernel of the notebook open on a page.

Usage::

    require_chromium()
    with serve_directory(site) as base, chromium() as browser:
        session = open_page(browser, f"{base}/book/some_chapter.html")
        wait_for_explorers(session.page)
        before = canvas_digest(session.page)
        after = click_patch(session.page, row=2, col=3)
        assert before != after and session.errors == []
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import importlib.resources
import mimetypes
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
RUNTIME_DIR = REPO / "artifacts" / "widget-runtime"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# Console messages that are not failures, each with its reason.  Matched with re.search.
KNOWN_HARMLESS = {
    r"Identifier 'THEBE_JS_URL' has already been declared":
        "sphinx-thebe declares `const THEBE_JS_URL` in every page it loads on (the book leaves it out)",
}
# Without ``data-jupyter-widgets-cdn-only`` on the embed-amd.js script, the widget manager first asks the
# page's own folder for anywidget.js (a 404), then the CDN.
ANYWIDGET_PROBE_HINT = (" (the widget manager looked for anywidget next to the page first: give embed-amd.js's "
                        "script the attribute data-jupyter-widgets-cdn-only, with myst-nb's nb_ipywidgets_js)")
# Same-site requests that fail on every Jupyter Book page with widgets, each with its reason.  Matched
# with re.search against the address.
KNOWN_MISSING = {
    r"/@jupyter-widgets/(?:html-manager/dist/)?[0-9a-f]{20}\.(?:woff2?|ttf|eot|svg)$":
        "html-manager's embed-amd.js resolves its Font Awesome files against the page's own address "
        "(404 on any site); ipywidgets' icons only",
}

_NPM = r"(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>[^/]+)/(?P<path>.+)"
CDN_PATTERNS = [
    # cdnjs's require.js -> npm's requirejs (the same release, not minified)
    re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/(?P<version>[^/]+)/require(?:\.min)?\.js$"),
    # npm packages from jsDelivr or unpkg (html-manager, anywidget, ...)
    re.compile(rf"^https://cdn\.jsdelivr\.net/npm/{_NPM}$"),
    re.compile(rf"^https://unpkg\.com/{_NPM}$"),
]


def require_chromium() -> None:
    """Skip the calling test when Debian's Chromium is absent, unless VIT_LESSONS_REQUIRE_BROWSER=1
    (CI), in which case fail."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found (apt-get install -y chromium)"
    if os.environ.get("VIT_LESSONS_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " and VIT_LESSONS_REQUIRE_BROWSER=1")
    pytest.skip(message)


@functools.cache
def npm_package(name: str, version: str) -> Path:
    """The unpacked npm package ``name@version`` (its ``package/`` folder), fetched from the npm
    registry with ``npm pack`` on first use and kept under ``artifacts/widget-runtime/``."""
    target = RUNTIME_DIR / f"{name.replace('/', '+')}@{version}"
    if (target / "package" / "package.json").exists():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed to fetch {name}@{version} from the npm registry (apt-get install -y npm)")
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RUNTIME_DIR) as tmp:
        out = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
                             capture_output=True, text=True, timeout=180, check=False)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if out.returncode != 0 or len(tarballs) != 1:
            raise RuntimeError(f"npm pack {name}@{version} failed ({out.returncode}): {out.stderr.strip()}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpacked, filter="data")
        with contextlib.suppress(OSError):  # another process may have finished first
            unpacked.rename(target)
    return target / "package"


def anywidget_amd() -> Path:
    """anywidget's AMD bundle for the embed manager, from the installed wheel."""
    path = Path(str(importlib.resources.files("anywidget") / "nbextension" / "index.js"))
    if not path.exists():
        raise RuntimeError(f"anywidget's AMD bundle is missing: {path}")
    return path


def local_copy(url: str) -> Path | None:
    """The local file that stands in for a CDN address, or None when the address is not a CDN's."""
    for pattern in CDN_PATTERNS:
        m = pattern.match(url.split("?")[0].split("#")[0])
        if m is None:
            continue
        groups = m.groupdict()
        if "pkg" not in groups:
            return npm_package("requirejs", groups["version"]) / "require.js"
        if groups["pkg"] == "anywidget" and groups["path"] in ("dist/index.js", "dist/index"):
            return anywidget_amd()
        path = groups["path"] if Path(groups["path"]).suffix else groups["path"] + ".js"  # require.js drops .js
        return npm_package(groups["pkg"], groups["version"]) / path
    return None


# ---- serving a built site ---------------------------------------------------------------------
_TAG_WITH_INTEGRITY = re.compile(r"<(?:script|link)\b[^>]*\bintegrity=\"[^\"]*\"[^>]*>", re.IGNORECASE)
_INTEGRITY = re.compile(r"\s+integrity=\"[^\"]*\"", re.IGNORECASE)
_SOURCE = re.compile(r"\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def strip_cdn_integrity(html: str) -> tuple[str, list[str]]:
    """Remove the ``integrity`` attribute of tags whose source is a CDN address served locally.
    Returns the new text and the addresses concerned."""
    stripped = []

    def fix(m: re.Match) -> str:
        source = _SOURCE.search(m.group(0))
        if source is None or not any(p.match(source.group(1)) for p in CDN_PATTERNS):
            return m.group(0)
        stripped.append(source.group(1))
        return _INTEGRITY.sub("", m.group(0))

    return _TAG_WITH_INTEGRITY.sub(fix, html), stripped


class _Handler(http.server.SimpleHTTPRequestHandler):
    stripped: list[str]

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        html, stripped = strip_cdn_integrity(path.read_text(encoding="utf-8"))
        self.stripped.extend(stripped)
        body = html.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return _Body(body)


class _Body:
    """A file-like body for SimpleHTTPRequestHandler.copyfile."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, n: int = -1) -> bytes:
        data, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return data

    def close(self) -> None:
        pass


@contextlib.contextmanager
def serve_directory(root: Path | str):
    """Serve ``root`` on http://127.0.0.1:<free port> for the duration of the block; yields the base URL.
    HTML files are served with the SRI attribute of substituted CDN scripts removed
    (:func:`strip_cdn_integrity`)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root: expected a directory, got {root}")
    handler = type("Handler", (_Handler,), {"stripped": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- the browser ------------------------------------------------------------------------------
@contextlib.contextmanager
def chromium():
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageSession:
    """An open page and what happened on it: ``errors`` (JavaScript errors, and failed same-site
    requests, not allow-listed), ``allowed`` (allow-listed ones, with their reason), ``served`` (CDN
    address -> local file), ``blocked`` (outside requests that were aborted)."""

    page: object
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    served: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)


def open_page(browser, url: str, *, allow: dict[str, str] | None = None, missing: dict[str, str] | None = None,
              viewport=(1100, 900), timeout_ms: int = 30_000) -> PageSession:
    """Open ``url`` in a new page with CDN requests served from local copies and every other
    request off 127.0.0.1 aborted.  ``allow`` maps regular expressions of harmless console messages
    to their reason (default :data:`KNOWN_HARMLESS`), ``missing`` those of same-site addresses that
    may fail (default :data:`KNOWN_MISSING`).  Browser messages about failed loads
    ("Failed to load resource") are not counted twice: the failed request itself is."""
    allow = KNOWN_HARMLESS if allow is None else allow
    missing = KNOWN_MISSING if missing is None else missing
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    session = PageSession(page)

    def record(text: str, patterns: dict[str, str], subject: str | None = None) -> None:
        for pattern, reason in patterns.items():
            if re.search(pattern, text if subject is None else subject):
                session.allowed.append(f"{text}  [allowed: {reason}]")
                return
        session.errors.append(text)

    def console(msg) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            record(f"console.error: {msg.text} @ {msg.location.get('url', '')}", allow)

    def response(r) -> None:
        if r.status >= 400 and r.url not in session.blocked:
            hint = ANYWIDGET_PROBE_HINT if r.url.split("?")[0].endswith("/anywidget.js") else ""
            record(f"HTTP {r.status}: {r.url}{hint}", missing, r.url.split("?")[0])

    def failed(request) -> None:
        if request.url not in session.blocked:
            record(f"request failed ({request.failure}): {request.url}", missing, request.url.split("?")[0])

    def route(r) -> None:
        address = r.request.url
        host = urlsplit(address).hostname
        if host in ("127.0.0.1", "localhost"):
            r.continue_()
            return
        try:
            path = local_copy(address)
        except Exception as exc:  # noqa: BLE001 - report any failure to fetch the runtime as a page error
            session.errors.append(f"no local copy of {address}: {exc}")
            r.abort()
            return
        if path is None or not path.is_file():
            session.blocked.append(address)
            r.abort()
            return
        session.served[address] = str(path)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r.fulfill(status=200, body=path.read_bytes(),
                  headers={"Content-Type": ctype, "Access-Control-Allow-Origin": "*"})

    context.route("**/*", route)
    page.on("pageerror", lambda exc: record(f"uncaught: {exc}", allow))
    page.on("console", console)
    page.on("response", response)
    page.on("requestfailed", failed)
    page.set_default_timeout(timeout_ms)
    page.goto(url, wait_until="load")
    return session


# ---- the attention explorer -------------------------------------------------------------------
EXPLORER_CANVAS = "canvas.vitx-canvas"


def wait_for_explorers(page, count: int = 1, timeout_ms: int = 30_000) -> int:
    """Wait until at least ``count`` explorers have drawn; returns how many are on the page."""
    page.wait_for_function(f"document.querySelectorAll({EXPLORER_CANVAS!r}).length >= {count}", timeout=timeout_ms)
    return page.locator(EXPLORER_CANVAS).count()


def canvas_digest(page, index: int = 0) -> str:
    """SHA-256 of the pixels drawn on explorer ``index``'s canvas."""
    data = page.locator(EXPLORER_CANVAS).nth(index).evaluate("c => c.toDataURL('image/png')")
    return hashlib.sha256(data.encode()).hexdigest()


def canvas_colours(page, index: int = 0) -> int:
    """How many distinct colours explorer ``index``'s canvas shows (a blank canvas shows 1)."""
    return page.locator(EXPLORER_CANVAS).nth(index).evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
                  for (let i = 0; i < d.length; i += 4) s.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
                  return s.size; }""")


def click_patch(page, row: int, col: int, index: int = 0) -> str:
    """Click the centre of patch (``row``, ``col``) of explorer ``index``; returns the canvas digest after."""
    canvas = page.locator(EXPLORER_CANVAS).nth(index)
    canvas.scroll_into_view_if_needed()
    info = canvas.evaluate("""c => ({grid: c.dataset.grid.split(',').map(Number), stride: +c.dataset.stride,
                                     pad: +c.dataset.padding, scale: +c.dataset.scale, width: c.width})""")
    gh, gw = info["grid"]
    if not (0 <= row < gh and 0 <= col < gw):
        raise ValueError(f"row, col: expected a patch of the {gh} x {gw} grid, got ({row}, {col})")
    box = canvas.bounding_box()
    css = box["width"] / info["width"]  # CSS pixels per canvas pixel
    x = ((col + 0.5) * info["stride"] - info["pad"]) * info["scale"] * css
    y = ((row + 0.5) * info["stride"] - info["pad"]) * info["scale"] * css
    canvas.click(position={"x": x, "y": y})
    return canvas_digest(page, index)


# ---- the attention playground -----------------------------------------------------------------
def playground_numbers(page) -> dict:
    """What the playground shows: its vectors (from the plane's handles), scale and weights (from the table)."""
    return page.evaluate("""() => {
        const root = document.querySelector('.vitp');
        const handles = (kind) => [...root.querySelectorAll(`g.vitp-${kind}`)].map(g => [+g.dataset.x, +g.dataset.y]);
        const table = (cls) => [...root.querySelectorAll(`table.${cls} tr`)].slice(1)
            .map(tr => [...tr.querySelectorAll('td')].filter(td => td.dataset.value !== undefined)
                        .map(td => +td.dataset.value));
        return {queries: handles('queries'), keys: handles('keys'), scale: +root.dataset.scale,
                weights: table('vitp-weights'), outputs: table('vitp-outputs')};
    }""")


def playground_matches_the_library(shown: dict):
    """The playground's weights and outputs equal vit_lessons.softmax of its own vectors and scale; returns
    the weights (n, n)."""
    import numpy as np

    import vit_lessons as V
    from vit_lessons.widgets.playground import COLOURS

    q, k = np.array(shown["queries"]), np.array(shown["keys"])
    weights = V.softmax(shown["scale"] * q @ k.T, axis=-1)
    assert np.abs(np.array(shown["weights"]) - weights).max() <= 1e-12
    assert np.abs(np.array(shown["outputs"]) - weights @ np.array(COLOURS[:len(q)])).max() <= 1e-12
    return weights


# ---- live Jupyter ------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: Path | str, *, timeout_s: float = 90):
    """A JupyterLab server for ``root_dir`` on 127.0.0.1, with the app exposed to page scripts
    (``window.jupyterapp``); yields its base URL, the token in ``?token=``.  Stopped at the end."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        message = "jupyterlab is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("VIT_LESSONS_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and VIT_LESSONS_REQUIRE_BROWSER=1")
        pytest.skip(message)
    root_dir = Path(root_dir)
    token, port = secrets.token_hex(16), free_port()
    log = (root_dir / "jupyter-lab.log").open("w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root_dir}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root_dir, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except (URLError, OSError) as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (root_dir / "jupyter-lab.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {tail}") from exc
                time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def lab_execute(page, code: str, timeout_ms: int = 60_000) -> str:
    """Run ``code`` in the kernel of the notebook that is the current widget on a JupyterLab page;
    returns what it printed (stdout and results as text)."""
    return page.evaluate(
        """async ([code, timeout]) => {
             const panel = window.jupyterapp.shell.currentWidget;
             await panel.sessionContext.ready;
             const future = panel.sessionContext.session.kernel.requestExecute({code});
             let out = "";
             future.onIOPub = (msg) => {
               const c = msg.content;
               if (msg.header.msg_type === "stream") out += c.text;
               if (msg.header.msg_type === "execute_result") out += c.data["text/plain"];
               if (msg.header.msg_type === "error") out += `${c.ename}: ${c.evalue}`;
             };
             await Promise.race([future.done,
               new Promise((_, reject) => setTimeout(() => reject(new Error("kernel timeout")), timeout))]);
             return out;
           }""", [code, timeout_ms])


# Run every cell of the notebook that is the current widget, once its kernel is up (earlier, JupyterLab
# asks which kernel to start).
RUN_ALL = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.sessionContext.ready;
  await panel.sessionContext.session.kernel.info;
  await window.jupyterapp.commands.execute('notebook:run-all-cells');
}"""
