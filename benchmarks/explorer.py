"""The attention explorer at two scales: embedded state per image, and the time a click takes to redraw.

    python benchmarks/explorer.py [--clicks 60] [--images 2]

Two models, side by side in one run: the book's tiny model (32x32 images, 65 tokens, 3 layers x 4
heads: every head's full matrix is stored) and ViT-B/16 with random weights (224x224, 197 tokens,
12 layers x 12 heads: each head keeps its CLS row, each layer its mean in full).  The state is what
ipywidgets' embedding writes into a page (targets: <= 1 MB per image).  The redraw is measured in
Debian's headless Chromium, offline: the explorer's ES module is rendered into a blank page with a
minimal stand-in for the widget model (the same get/set/on calls the widget managers provide, change
events fired synchronously as Backbone does), and each click on a patch is timed from the event to
the end of the synchronous redraw it causes (target: <= 50 ms), in each of the explorer's views.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import vit_lessons as V  # noqa: E402
from vit_lessons.widgets import AttentionExplorer, storage  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TARGETS = {"state per image (bytes)": 1_000_000, "redraw (ms)": 50.0}

# A page-side stand-in for the widget model, and a timed click loop over views and patches.
HARNESS = """
async ([esm, state, binary, clicks, views]) => {
  for (const k of binary) {
    const text = atob(state[k]), bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    state[k] = new DataView(bytes.buffer);
  }
  const handlers = {};
  const model = {
    get: (k) => state[k],
    set: (k, v) => { if (state[k] === v) return; state[k] = v; (handlers[`change:${k}`] || []).forEach((f) => f()); },
    save_changes: () => {},
    on: (e, f) => { (handlers[e] ||= []).push(f); },
    off: () => {},
  };
  const widget = (await import(URL.createObjectURL(new Blob([esm], { type: "text/javascript" })))).default;
  const el = document.getElementById("root");
  let start = performance.now();
  widget.render({ model, el });
  const build = performance.now() - start;
  const canvas = el.querySelector("canvas.vitx-canvas");
  const [gh, gw] = state.grid, stride = state.stride, px = Number(canvas.dataset.scale);
  const box = canvas.getBoundingClientRect(), css = box.width / canvas.width;
  const times = {};
  for (const view of views) {
    for (const [k, v] of Object.entries(view.traits)) model.set(k, v);
    times[view.name] = [];
    for (let c = 0; c < clicks; c++) {
      const i = (c * 7) % gh, j = (c * 11 + 3) % gw;
      const x = box.left + (j + 0.5) * stride * px * css, y = box.top + (i + 0.5) * stride * px * css;
      start = performance.now();
      canvas.dispatchEvent(new MouseEvent("click", { clientX: x, clientY: y, bubbles: true }));
      times[view.name].push(performance.now() - start);
      await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    }
  }
  return { build, times };
}
"""

VIEWS = [
    {"name": "last layer, mean of heads", "traits": {"mode": "attention", "head": -1, "layer": 99}},
    {"name": "one head", "traits": {"mode": "attention", "head": 1, "layer": 0}},
    {"name": "column (who looks at the patch)", "traits": {"mode": "attention", "head": -1, "direction": "column"}},
    {"name": "rollout", "traits": {"mode": "rollout", "direction": "row"}},
]


def embedded_bytes(widget) -> int:
    from ipywidgets.embed import dependency_state, embed_data

    state = dependency_state([widget], drop_defaults=False)
    return len(json.dumps(embed_data(views=[widget], state=state, drop_defaults=False)["manager_state"]))


def explorer_for(cfg: V.ViTConfig, images: int, seed: int = 0) -> tuple[AttentionExplorer, float]:
    """An explorer over ``images`` random photographs-sized images of a random model; (widget, seconds)."""
    rng = np.random.default_rng(seed)
    params = V.init_params(cfg, seed)
    x = rng.random((images, *cfg.image_size, cfg.channels)).astype(np.float32)
    start = time.perf_counter()
    widget = AttentionExplorer.from_model(V.to_torch(params), cfg, x)
    return widget, time.perf_counter() - start


def redraw_times(widget: AttentionExplorer, clicks: int) -> dict:
    from playwright.sync_api import sync_playwright

    state = {k: v for k, v in widget.get_state().items() if not k.startswith("_") or k in ("_esm",)}
    binary = [k for k, v in state.items() if isinstance(v, bytes | memoryview)]
    for k in binary:
        state[k] = base64.b64encode(bytes(state[k])).decode()
    layers = widget.num_layers
    views = [{**v, "traits": {k: (layers - 1 if val == 99 else val) for k, val in v["traits"].items()}} for v in VIEWS]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.set_content("<!doctype html><html><body><div id='root'></div></body></html>")
        page.add_style_tag(content=widget._css)
        result = page.evaluate(HARNESS, [widget._esm, state, binary, clicks, views])
        browser.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=60, help="clicks per view (default 60)")
    parser.add_argument("--images", type=int, default=2, help="images per explorer (default 2)")
    args = parser.parse_args()
    models = {"tiny (65 tokens, 3 x 4 heads)": V.preset("tiny"),
              "ViT-B/16 (197 tokens, 12 x 12 heads)": V.preset("ViT-B/16")}
    rows = {}
    for name, cfg in models.items():
        one, _ = explorer_for(cfg, 1)
        many, seconds = explorer_for(cfg, args.images)
        size_one, size_many = embedded_bytes(one), embedded_bytes(many)
        per_image = (size_many - size_one) / (args.images - 1) if args.images > 1 else size_one
        timing = redraw_times(many, args.clicks)
        clicks = [t for ts in timing["times"].values() for t in ts]
        rows[name] = {"layout": storage(cfg), "one": size_one, "per_image": per_image, "seconds": seconds,
                      "build": timing["build"], "median": statistics.median(clicks), "max": max(clicks),
                      "views": {v: statistics.median(ts) for v, ts in timing["times"].items()}}
    for name, r in rows.items():
        q = r["layout"]["head_queries"]
        print(f"{name}: heads keep {'their full matrices' if q == models[name].num_tokens else 'the CLS row'}; "
              f"state {r['one'] / 1e3:.0f} kB for one image, {r['per_image'] / 1e3:.0f} kB per further image "
              f"(target <= {TARGETS['state per image (bytes)'] / 1e3:.0f} kB); computed in {r['seconds']:.1f} s "
              f"for {args.images} images")
        print(f"  first draw {r['build']:.1f} ms; a click redraws in {r['median']:.2f} ms (median of "
              f"{args.clicks * len(VIEWS)}), at most {r['max']:.2f} ms (target <= {TARGETS['redraw (ms)']:.0f} ms)")
        for view, ms in r["views"].items():
            print(f"    {view:<34} median {ms:.2f} ms")
    tiny, big = rows.values()
    print(f"ViT-B/16 / tiny, side by side: state per image {big['per_image'] / tiny['per_image']:.1f}x, "
          f"median redraw {big['median'] / tiny['median']:.1f}x")
    ok = all(r["per_image"] <= TARGETS["state per image (bytes)"] and r["one"] <= TARGETS["state per image (bytes)"]
             and r["max"] <= TARGETS["redraw (ms)"] for r in rows.values())
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
