// The attention explorer's front end: an anywidget ES module with no dependencies.
//
// Everything it draws comes from the widget's synced state, so it works the same in a live
// Jupyter kernel and on a static page where the embedded widget state is all there is.
//
// State (written by vit_lessons/widgets/explorer.py):
//   images       bytes (N, H, W, 3) uint8 RGB
//   attention    bytes (N, R, T) uint8: rows of attention matrices, per image in this order (storage()):
//                heads   L * heads * Q rows, row (layer * heads + head) * Q + q: query q's row of a head,
//                        for the queries q < Q = head_queries (Q = T: every head's full matrix)
//                means   L * T rows, the mean of a layer's heads in full (only when Q < T)
//                rollout T rows, the attention rollout
//   scales       bytes (N, R) float32: probability = scale * (byte / 255)^2, one scale per row
//   head_queries Q
//   grid [gh, gw], patch_size, stride, padding, num_prefix_tokens (1 with a CLS token, else 0)
//   view: image_index, layer, head (-1 = mean over heads), mode ("attention" | "rollout"),
//         direction ("row": where the query attends | "column": what attends to it),
//         query (token index), opacity, clip (percentile), show_grid

const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [253, 231, 37],
];

function colour(t) {
  // t in [0, 1] -> [r, g, b] on a piecewise-linear viridis.
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}

function bytesOf(value) {
  // Binary traits arrive as DataView (widget managers) or ArrayBuffer; base64 text is accepted too.
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") {
    const text = atob(value);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  return new Uint8Array(0);
}

function percentile(values, p) {
  // Linear interpolation between closest ranks (numpy's default), p in [0, 100].
  const s = Array.from(values).sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const x = (p / 100) * (s.length - 1);
  const i = Math.floor(x);
  const j = Math.min(s.length - 1, i + 1);
  return s[i] + (x - i) * (s[j] - s[i]);
}

function element(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

function floatsOf(value) {
  // A float32 binary trait, copied so that its alignment does not matter.
  const bytes = bytesOf(value);
  return new Float32Array(bytes.slice().buffer, 0, Math.floor(bytes.length / 4));
}

// byte -> (byte / 255)^2, the inverse of quantize()'s square-root code
const SQUARES = Float32Array.from({ length: 256 }, (_, b) => (b / 255) * (b / 255));

function readData(model) {
  const [gh, gw] = model.get("grid") || [0, 0];
  const d = {
    n: model.get("num_images"), h: model.get("height"), w: model.get("width"),
    gh, gw, P: model.get("patch_size"), stride: model.get("stride"), pad: model.get("padding"),
    prefix: model.get("num_prefix_tokens"), L: model.get("num_layers"), H: model.get("num_heads"),
    Q: model.get("head_queries"),
    names: model.get("image_names") || [], captions: model.get("captions") || [],
    images: bytesOf(model.get("images")), attention: bytesOf(model.get("attention")),
    scales: floatsOf(model.get("scales")),
  };
  d.T = d.prefix + gh * gw;
  d.meansRow = d.L * d.H * d.Q; // first row of the means (if stored) and then of the rollout
  d.rolloutRow = d.meansRow + (d.Q < d.T ? d.L * d.T : 0);
  d.R = d.rolloutRow + d.T; // rows per image
  d.ok = d.n > 0 && d.T > 0 && d.attention.length === d.n * d.R * d.T && d.scales.length === d.n * d.R
    && d.images.length === d.n * d.h * d.w * 3;
  return d;
}

function matrixVector(d, image, first, query, direction) {
  // Row `query` (direction "row") or column `query` ("column") of the T x T matrix stored as rows
  // first .. first + T - 1 of an image, dequantised: (T,).
  const T = d.T, out = new Float32Array(T), base = image * d.R + first;
  for (let t = 0; t < T; t++) {
    const row = direction === "row" ? base + query : base + t;
    out[t] = d.scales[row] * SQUARES[d.attention[row * T + (direction === "row" ? t : query)]];
  }
  return out;
}

function headStored(d, query, direction) {
  // Is a head's map for this query and direction stored?  Full matrices: always; else rows of q < Q.
  return d.Q === d.T || (direction === "row" && query < d.Q);
}

function valuesFor(d, view) {
  // The map to draw: {values (T,), note} for the current image, matrix choice, query and direction.
  const { image, query, direction, layer } = view;
  if (view.mode === "rollout") return { values: matrixVector(d, image, d.rolloutRow, query, direction), note: "" };
  const headFirst = (h) => (layer * d.H + h) * d.Q;
  let note = "";
  if (view.head >= 0) {
    if (d.Q === d.T) return { values: matrixVector(d, image, headFirst(view.head), query, direction), note };
    if (headStored(d, query, direction)) {
      return { values: matrixVector(d, image, headFirst(view.head), query, "row"), note };
    }
    note = d.Q > 0 ? `head ${view.head + 1} is stored for the CLS token's row only: showing the mean of heads`
      : "single heads are not stored at this size: showing the mean of heads";
  }
  if (d.Q < d.T) return { values: matrixVector(d, image, d.meansRow + layer * d.T, query, direction), note };
  const mean = new Float32Array(d.T);
  for (let h = 0; h < d.H; h++) {
    const v = matrixVector(d, image, headFirst(h), query, direction);
    for (let t = 0; t < d.T; t++) mean[t] += v[t] / d.H;
  }
  return { values: mean, note };
}

function render({ model, el }) {
  const root = element("div", { class: "vitx" });
  el.appendChild(root);
  let d = null;
  let hover = null; // token index under the pointer, or null
  let imageCanvas = null; // the current image at native size

  const ui = {};
  const get = (k) => model.get(k);
  const set = (k, v) => { model.set(k, v); model.save_changes(); };

  function option(value, text) { return element("option", { value: String(value), text }); }

  function build() {
    root.textContent = "";
    d = readData(model);
    if (!d.ok) {
      root.appendChild(element("div", { class: "vitx-empty", text: "No attention data in this explorer." }));
      return;
    }
    ui.image = element("select", { class: "vitx-image", "aria-label": "image" });
    for (let i = 0; i < d.n; i++) ui.image.appendChild(option(i, d.names[i] || `image ${i + 1}`));
    ui.mode = element("select", { class: "vitx-mode", "aria-label": "what to show" },
      [option("attention", "attention"), option("rollout", "rollout (all layers)")]);
    ui.layer = element("select", { class: "vitx-layer", "aria-label": "layer" });
    for (let l = 0; l < d.L; l++) ui.layer.appendChild(option(l, `layer ${l + 1}`));
    ui.head = element("select", { class: "vitx-head", "aria-label": "head" }, [option(-1, "mean of heads")]);
    // what a head keeps at a size where not every row is stored
    const only = d.Q === d.T ? "" : d.Q > 0 ? " (CLS row)" : " (not stored)";
    for (let h = 0; h < d.H; h++) ui.head.appendChild(option(h, `head ${h + 1}${only}`));
    ui.cls = element("button", { class: "vitx-cls", type: "button", text: "CLS as query" });
    if (d.prefix === 0) {
      ui.cls.disabled = true;
      ui.cls.title = "mean-pooled model: there is no CLS token";
    }
    ui.row = element("button", { class: "vitx-dir", type: "button", "data-dir": "row",
      text: "where it looks (row)" });
    ui.col = element("button", { class: "vitx-dir", type: "button", "data-dir": "column",
      text: "who looks at it (column)" });
    ui.opacity = element("input", { class: "vitx-opacity", type: "range", min: "0", max: "1", step: "0.05",
      "aria-label": "opacity" });
    ui.clip = element("input", { class: "vitx-clip", type: "range", min: "50", max: "100", step: "0.5",
      "aria-label": "clip percentile" });
    ui.opacityText = element("span", { class: "vitx-value" });
    ui.clipText = element("span", { class: "vitx-value" });
    ui.grid = element("input", { class: "vitx-grid-toggle", type: "checkbox", "aria-label": "patch grid" });

    // an integer zoom: 10x for a 32-pixel image (320 px), 2x for a 224-pixel photograph (448 px)
    const scale = Math.min(10, Math.max(1, Math.floor(448 / Math.max(d.h, d.w)))) || 1;
    const fit = Math.min(1, 448 / Math.max(d.h * scale, d.w * scale));
    ui.px = scale * fit; // canvas pixels per image pixel
    ui.canvas = element("canvas", {
      class: "vitx-canvas", width: String(Math.round(d.w * ui.px)), height: String(Math.round(d.h * ui.px)),
      "data-grid": `${d.gh},${d.gw}`, "data-stride": String(d.stride), "data-padding": String(d.pad),
      "data-scale": String(ui.px), tabindex: "0", role: "img",
      "aria-label": "attention map: click a patch, or move the query patch with the arrow keys (Home: the "
        + "CLS token)",
    });
    ui.bar = element("canvas", { class: "vitx-bar", width: "14", height: ui.canvas.height });
    ui.barMax = element("div", { class: "vitx-bar-label" });
    ui.barMin = element("div", { class: "vitx-bar-label" });
    ui.info = element("div", { class: "vitx-info" });
    ui.caption = element("div", { class: "vitx-caption" });

    const label = (text, input) => element("label", { class: "vitx-label" }, [element("span", { text }), input]);
    root.appendChild(element("div", { class: "vitx-controls" }, [
      label("image", ui.image), label("show", ui.mode), label("layer", ui.layer), label("head", ui.head),
    ]));
    root.appendChild(element("div", { class: "vitx-controls" }, [
      ui.cls, element("span", { class: "vitx-group" }, [ui.row, ui.col]),
      label("opacity", ui.opacity), ui.opacityText, label("clip at percentile", ui.clip), ui.clipText,
      label("grid", ui.grid),
    ]));
    root.appendChild(element("div", { class: "vitx-main" }, [
      ui.canvas,
      element("div", { class: "vitx-scale" }, [ui.barMax, ui.bar, ui.barMin]),
    ]));
    root.appendChild(ui.caption);
    root.appendChild(ui.info);

    ui.image.addEventListener("change", () => set("image_index", Number(ui.image.value)));
    ui.mode.addEventListener("change", () => set("mode", ui.mode.value));
    ui.layer.addEventListener("change", () => set("layer", Number(ui.layer.value)));
    ui.head.addEventListener("change", () => set("head", Number(ui.head.value)));
    ui.cls.addEventListener("click", () => set("query", 0));
    ui.row.addEventListener("click", () => set("direction", "row"));
    ui.col.addEventListener("click", () => set("direction", "column"));
    ui.opacity.addEventListener("input", () => set("opacity", Number(ui.opacity.value)));
    ui.clip.addEventListener("input", () => set("clip", Number(ui.clip.value)));
    ui.grid.addEventListener("change", () => set("show_grid", ui.grid.checked));
    ui.canvas.addEventListener("mousemove", (e) => {
      const t = tokenAt(e);
      if (t !== hover) { hover = t; draw(); }
    });
    ui.canvas.addEventListener("mouseleave", () => { hover = null; draw(); });
    ui.canvas.addEventListener("click", (e) => {
      const t = tokenAt(e);
      if (t !== null) set("query", t);
    });
    ui.canvas.addEventListener("keydown", onKey);
    loadImage();
    draw();
  }

  function onKey(event) {
    // Arrow keys move the query patch (from the CLS token they start at the top-left patch); Home
    // selects the CLS token.
    const steps = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    let next = null;
    const q = Math.min(Math.max(0, Math.round(Number(get("query")) || 0)), d.T - 1);
    if (event.key in steps) {
      const [di, dj] = steps[event.key];
      if (q < d.prefix) next = d.prefix;
      else {
        const p = q - d.prefix, i = Math.floor(p / d.gw) + di, j = (p % d.gw) + dj;
        next = d.prefix + Math.min(d.gh - 1, Math.max(0, i)) * d.gw + Math.min(d.gw - 1, Math.max(0, j));
      }
    } else if (event.key === "Home" && d.prefix > 0) next = 0;
    if (next === null) return;
    event.preventDefault(); // the arrow keys would scroll the page
    hover = null;
    set("query", next);
  }

  function tokenAt(event) {
    // The patch token under the pointer: image pixel -> patch (i, j) -> token prefix + i * gw + j.
    const r = ui.canvas.getBoundingClientRect();
    const x = ((event.clientX - r.left) * (ui.canvas.width / r.width)) / ui.px + d.pad;
    const y = ((event.clientY - r.top) * (ui.canvas.height / r.height)) / ui.px + d.pad;
    const i = Math.floor(y / d.stride), j = Math.floor(x / d.stride);
    if (i < 0 || j < 0 || i >= d.gh || j >= d.gw) return null;
    return d.prefix + i * d.gw + j;
  }

  function loadImage() {
    const index = Math.min(Math.max(0, get("image_index")), d.n - 1);
    imageCanvas = document.createElement("canvas");
    imageCanvas.width = d.w;
    imageCanvas.height = d.h;
    const ctx = imageCanvas.getContext("2d");
    const data = ctx.createImageData(d.w, d.h);
    const src = d.images.subarray(index * d.h * d.w * 3, (index + 1) * d.h * d.w * 3);
    for (let p = 0, q = 0; p < src.length; p += 3, q += 4) {
      data.data[q] = src[p]; data.data[q + 1] = src[p + 1]; data.data[q + 2] = src[p + 2]; data.data[q + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
  }

  function view() {
    const clampInt = (v, lo, hi) => Math.min(hi, Math.max(lo, Math.round(Number(v) || 0)));
    const kept = clampInt(get("query"), 0, d.T - 1);
    const query = hover !== null ? hover : kept;
    return {
      image: clampInt(get("image_index"), 0, d.n - 1), layer: clampInt(get("layer"), 0, d.L - 1),
      head: clampInt(get("head"), -1, d.H - 1), mode: get("mode") === "rollout" ? "rollout" : "attention",
      direction: get("direction") === "column" ? "column" : "row", query, locked: query === kept,
      opacity: Math.min(1, Math.max(0, Number(get("opacity")))), clip: Math.min(100, Math.max(0, Number(get("clip")))),
      grid: Boolean(get("show_grid")),
    };
  }

  function draw() {
    if (!d || !d.ok) return;
    const v = view();
    // keep the controls in step with the state (it may change from Python or another view)
    ui.image.value = String(v.image);
    ui.mode.value = v.mode;
    ui.layer.value = String(v.layer);
    ui.head.value = String(v.head);
    ui.layer.disabled = ui.head.disabled = v.mode === "rollout";
    ui.row.classList.toggle("vitx-on", v.direction === "row");
    ui.col.classList.toggle("vitx-on", v.direction === "column");
    ui.cls.classList.toggle("vitx-on", d.prefix > 0 && v.query === 0);
    ui.opacity.value = String(v.opacity);
    ui.clip.value = String(v.clip);
    ui.opacityText.textContent = v.opacity.toFixed(2);
    ui.clipText.textContent = `${v.clip}`;
    ui.grid.checked = v.grid;

    const { values, note } = valuesFor(d, v);
    const patches = values.subarray(d.prefix);
    const lo = Math.min(...patches);
    const hi = Math.max(lo, percentile(patches, v.clip));
    const span = hi - lo;

    const ctx = ui.canvas.getContext("2d");
    const W = ui.canvas.width, Hc = ui.canvas.height, s = ui.px;
    ctx.save();
    ctx.clearRect(0, 0, W, Hc);
    ctx.imageSmoothingEnabled = s < 2;
    ctx.drawImage(imageCanvas, 0, 0, W, Hc);
    ctx.globalAlpha = v.opacity;
    for (let i = 0; i < d.gh; i++) {
      for (let j = 0; j < d.gw; j++) {
        const x = patches[i * d.gw + j];
        const [r, g, b] = colour(span > 0 ? (x - lo) / span : 0);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect((j * d.stride - d.pad) * s, (i * d.stride - d.pad) * s, d.stride * s, d.stride * s);
      }
    }
    ctx.globalAlpha = 1;
    if (v.grid) {
      ctx.strokeStyle = "rgba(255,255,255,0.35)";
      ctx.lineWidth = 1;
      for (let i = 0; i <= d.gh; i++) {
        const y = Math.round((i * d.stride - d.pad) * s) + 0.5;
        ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke();
      }
      for (let j = 0; j <= d.gw; j++) {
        const x = Math.round((j * d.stride - d.pad) * s) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, Hc); ctx.stroke();
      }
    }
    if (v.query >= d.prefix) {
      const p = v.query - d.prefix, i = Math.floor(p / d.gw), j = p % d.gw;
      const x = (j * d.stride - d.pad) * s, y = (i * d.stride - d.pad) * s, size = d.P * s;
      ctx.lineWidth = 3; ctx.strokeStyle = "#000"; ctx.strokeRect(x + 1.5, y + 1.5, size - 3, size - 3);
      ctx.lineWidth = 1.5; ctx.strokeStyle = v.locked ? "#ff3b30" : "#fff";
      ctx.strokeRect(x + 1.5, y + 1.5, size - 3, size - 3);
    }
    ctx.restore();

    const bar = ui.bar.getContext("2d");
    for (let y = 0; y < ui.bar.height; y++) {
      const [r, g, b] = colour(1 - y / Math.max(1, ui.bar.height - 1));
      bar.fillStyle = `rgb(${r},${g},${b})`;
      bar.fillRect(0, y, ui.bar.width, 1);
    }
    ui.barMax.textContent = `${hi.toFixed(3)}${v.clip < 100 ? "+" : ""}`;
    ui.barMin.textContent = lo.toFixed(3);

    const who = v.query < d.prefix ? "the CLS token"
      : `patch (${Math.floor((v.query - d.prefix) / d.gw)}, ${(v.query - d.prefix) % d.gw})`;
    const what = v.mode === "rollout" ? "rollout of all layers"
      : `layer ${v.layer + 1}, ${v.head < 0 ? "mean of heads" : `head ${v.head + 1}`}`;
    const dir = v.direction === "row" ? `where ${who} attends` : `what attends to ${who}`;
    let text = `${dir} · ${what} · colour from ${lo.toFixed(3)} to ${hi.toFixed(3)} (percentile ${v.clip})`;
    if (d.prefix > 0) {
      text += ` · CLS ${v.direction === "row" ? "receives" : "gives"} ${values[0].toFixed(3)}`;
    }
    if (note) text += ` · ${note}`;
    ui.info.textContent = text + (v.locked ? "" : " · click to keep this query");
    ui.caption.textContent = d.captions[v.image] || "";
  }

  const structural = ["images", "attention", "scales", "head_queries", "grid", "num_images", "height", "width", "num_layers",
    "num_heads", "num_prefix_tokens", "patch_size", "stride", "padding", "image_names", "captions"];
  let pending = false; // several traits change together when Python swaps the data: rebuild once
  const onStructure = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => { pending = false; build(); });
  };
  const onImage = () => { if (d && d.ok) { loadImage(); draw(); } };
  const onView = () => draw();
  const viewKeys = ["layer", "head", "mode", "direction", "query", "opacity", "clip", "show_grid"];
  for (const k of structural) model.on(`change:${k}`, onStructure);
  model.on("change:image_index", onImage);
  for (const k of viewKeys) model.on(`change:${k}`, onView);
  build();
  return () => {
    for (const k of structural) model.off(`change:${k}`, onStructure);
    model.off("change:image_index", onImage);
    for (const k of viewKeys) model.off(`change:${k}`, onView);
  };
}

export default { render };
