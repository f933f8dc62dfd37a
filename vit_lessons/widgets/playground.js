// The attention playground's front end (chapter 4): an anywidget ES module with no dependencies.
//
// State (written by vit_lessons/widgets/playground.py): query_vectors, key_vectors (n, 2) in
// [-extent, extent], value_colours (n, 3) colours in [0, 1], labels (n,), scale α > 0, selected (the highlighted query), presets
// {name: {queries, keys}}, head_dim d, extent.
//
// It computes A = softmax(α Q K^T) along each row and the outputs A V itself, so that a drag redraws at
// once, with or without a kernel; the Python side computes the same numbers with vit_lessons.softmax
// (the browser tests compare the two).

const SVG = "http://www.w3.org/2000/svg";
const SIZE = 300; // the plane's side in pixels
const STEP = 0.1, BIG_STEP = 0.5; // arrow keys, and with Shift
const LOG2_RANGE = [-4, 4]; // the scale slider: α from 1/16 to 16

function element(tag, attrs = {}, children = [], ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

export function softmaxRows(scores) {
  // softmax along each row, shifted by the row's maximum so that exp cannot overflow.
  return scores.map((row) => {
    const top = Math.max(...row);
    const e = row.map((x) => Math.exp(x - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / total);
  });
}

export function attention(queries, keys, values, scale) {
  // {scores α Q K^T, weights softmax(scores), outputs weights V}: (n, n), (n, n), (n, 3).
  const scores = queries.map((q) => keys.map((k) => scale * (q[0] * k[0] + q[1] * k[1])));
  const weights = softmaxRows(scores);
  const outputs = weights.map((w) => [0, 1, 2].map((c) => w.reduce((sum, a, j) => sum + a * values[j][c], 0)));
  return { scores, weights, outputs };
}

const rgb = (c) => `rgb(${c.map((x) => Math.round(255 * Math.min(1, Math.max(0, x)))).join(",")})`;
const fmt = (x) => (Math.abs(x) < 0.005 && x !== 0 ? x.toExponential(0) : x.toFixed(2));

function render({ model, el }) {
  const root = element("div", { class: "vitp" });
  el.appendChild(root);
  const ui = { handles: [], inputs: [] };
  const get = (k) => model.get(k);
  const commit = (changes) => {
    for (const [k, v] of Object.entries(changes)) model.set(k, v);
    model.save_changes();
  };
  const TRAIT = { queries: "query_vectors", keys: "key_vectors" };
  const vectors = (kind) => get(TRAIT[kind]) || [];
  const colours = () => get("value_colours") || [];
  const E = () => Number(get("extent")) || 3;
  const toPx = (x, y) => [((x + E()) / (2 * E())) * SIZE, ((E() - y) / (2 * E())) * SIZE];
  const fromPx = (px, py) => [(px / SIZE) * 2 * E() - E(), E() - (py / SIZE) * 2 * E()];
  const clampRound = (x) => Math.round(100 * Math.min(E(), Math.max(-E(), x))) / 100;

  function moveVector(kind, i, xy) {
    // A new list for the trait (so that the change is seen), vector i replaced by xy, clamped and rounded.
    const list = vectors(kind).map((v) => v.slice());
    list[i] = xy.map(clampRound);
    const changes = { [TRAIT[kind]]: list };
    if (kind === "queries") changes.selected = i;
    commit(changes);
  }

  function controls() {
    ui.preset = element("select", { class: "vitp-preset", "aria-label": "preset" },
      [element("option", { value: "", text: "choose a preset…" }),
        ...Object.keys(get("presets") || {}).map((name) => element("option", { value: name, text: name }))]);
    ui.preset.addEventListener("change", () => {
      const p = (get("presets") || {})[ui.preset.value];
      if (p) commit({ query_vectors: p.queries.map((v) => v.slice()), key_vectors: p.keys.map((v) => v.slice()) });
    });
    ui.scale = element("input", { class: "vitp-scale", type: "range", min: String(LOG2_RANGE[0]),
      max: String(LOG2_RANGE[1]), step: "0.05", "aria-label": "scale α of the scores (log scale)" });
    ui.scale.addEventListener("input", () => commit({ scale: 2 ** Number(ui.scale.value) }));
    ui.scaleText = element("span", { class: "vitp-value", "aria-live": "polite" });
    ui.one = element("button", { type: "button", class: "vitp-one", text: "α = 1" });
    ui.one.addEventListener("click", () => commit({ scale: 1 }));
    ui.root = element("button", { type: "button", class: "vitp-sqrt", text: "α = 1/√d" });
    ui.root.addEventListener("click", () => commit({ scale: 1 / Math.sqrt(get("head_dim") || 2) }));
    return element("div", { class: "vitp-controls" }, [
      element("label", {}, [element("span", { text: "preset" }), ui.preset]),
      element("label", {}, [element("span", { text: "scale α" }), ui.scale]), ui.scaleText, ui.one, ui.root]);
  }

  function handle(kind, i) {
    // One draggable, focusable point: a key (circle) or a query (diamond) of token i.
    const colour = rgb(colours()[i]);
    const mark = kind === "keys"
      ? element("circle", { r: "7", fill: colour, class: "vitp-mark", stroke: "#0008" }, [], SVG)
      : element("rect", { x: "-6", y: "-6", width: "12", height: "12", transform: "rotate(45)", fill: "#fff",
        stroke: colour, "stroke-width": "3", class: "vitp-mark" }, [], SVG);
    const text = element("text", { x: "10", y: "-8", "font-size": "11", fill: "currentColor",
      text: `${kind === "keys" ? "k" : "q"}${i + 1}` }, [], SVG);
    const g = element("g", { class: `vitp-handle vitp-${kind}`, tabindex: "0", role: "slider",
      "data-kind": kind, "data-index": String(i) }, [mark, text], SVG);
    g.addEventListener("pointerdown", (e) => {
      g.setPointerCapture(e.pointerId);
      g.focus();
      const move = (ev) => {
        const r = ui.plane.getBoundingClientRect();
        moveVector(kind, i, fromPx((ev.clientX - r.left) * (SIZE / r.width), (ev.clientY - r.top) * (SIZE / r.height)));
      };
      const up = () => { g.removeEventListener("pointermove", move); g.removeEventListener("pointerup", up); };
      g.addEventListener("pointermove", move);
      g.addEventListener("pointerup", up);
    });
    g.addEventListener("keydown", (e) => {
      const d = e.shiftKey ? BIG_STEP : STEP;
      const steps = { ArrowLeft: [-d, 0], ArrowRight: [d, 0], ArrowUp: [0, d], ArrowDown: [0, -d] };
      if (!(e.key in steps)) return;
      e.preventDefault();
      const v = vectors(kind)[i];
      moveVector(kind, i, [v[0] + steps[e.key][0], v[1] + steps[e.key][1]]);
    });
    g.addEventListener("focus", () => { if (kind === "queries" && get("selected") !== i) commit({ selected: i }); });
    return g;
  }

  function plane(n) {
    ui.plane = element("svg", { class: "vitp-plane", width: String(SIZE), height: String(SIZE),
      viewBox: `0 0 ${SIZE} ${SIZE}`, role: "group",
      "aria-label": "queries (diamonds) and keys (circles) in the plane: drag them, or focus one and use the arrow keys" },
    [element("line", { x1: "0", y1: String(SIZE / 2), x2: String(SIZE), y2: String(SIZE / 2), class: "vitp-axis" }, [], SVG),
      element("line", { x1: String(SIZE / 2), y1: "0", x2: String(SIZE / 2), y2: String(SIZE), class: "vitp-axis" }, [], SVG)],
    SVG);
    ui.handles = [];
    for (const kind of ["keys", "queries"]) {
      for (let i = 0; i < n; i++) {
        const g = handle(kind, i);
        ui.plane.appendChild(g);
        ui.handles.push(g);
      }
    }
    return ui.plane;
  }

  function vectorTable(n) {
    // Typed entry of every vector: q_x, q_y, k_x, k_y per token, labelled for screen readers.
    const head = element("tr", {}, ["token", "q x", "q y", "k x", "k y", "value"].map((t) => element("th", { text: t })));
    const rows = [];
    ui.inputs = [];
    for (let i = 0; i < n; i++) {
      const cells = [element("th", { text: get("labels")[i] || `token ${i + 1}` })];
      for (const kind of ["queries", "keys"]) {
        for (const c of [0, 1]) {
          const input = element("input", { type: "number", step: String(STEP), min: String(-E()), max: String(E()),
            "aria-label": `${kind === "queries" ? "query" : "key"} of token ${i + 1}, ${c === 0 ? "x" : "y"}` });
          input.addEventListener("change", () => {
            const v = vectors(kind)[i].slice();
            v[c] = Number(input.value) || 0;
            moveVector(kind, i, v);
          });
          ui.inputs.push({ input, kind, i, c });
          cells.push(element("td", {}, [input]));
        }
      }
      const swatch = element("span", { class: "vitp-swatch", style: `background:${rgb(colours()[i])}` });
      cells.push(element("td", {}, [swatch]));
      rows.push(element("tr", {}, cells));
    }
    return element("table", { class: "vitp-vectors" }, [element("caption", { text: "queries, keys and values" }), head, ...rows]);
  }

  function matrixTable(cls, caption, n, cols) {
    const head = element("tr", {}, [element("th", { text: "" }), ...cols.map((t) => element("th", { text: t }))]);
    const rows = [];
    for (let i = 0; i < n; i++) {
      rows.push(element("tr", {}, [element("th", { text: `q${i + 1}` }),
        ...cols.map(() => element("td", {}))]));
    }
    return element("table", { class: cls }, [element("caption", { text: caption }), head, ...rows]);
  }

  function build() {
    root.textContent = "";
    const n = vectors("queries").length;
    if (n < 1 || vectors("keys").length !== n || colours().length !== n) {
      root.appendChild(element("div", { text: "No tokens in this playground." }));
      return;
    }
    const keysCols = Array.from({ length: n }, (_, j) => `k${j + 1}`);
    ui.scores = matrixTable("vitp-scores", "scores S = α Q Kᵀ", n, keysCols);
    ui.weights = matrixTable("vitp-weights", "weights A = softmax(S), each row sums to 1", n, keysCols);
    ui.outputs = matrixTable("vitp-outputs", "outputs A V (a mix of the values' colours)", n, ["colour", "r", "g", "b"]);
    ui.info = element("div", { class: "vitp-info", "aria-live": "polite" });
    root.appendChild(controls());
    root.appendChild(element("div", { class: "vitp-main" }, [plane(n),
      element("div", { class: "vitp-tables" }, [vectorTable(n), ui.scores, ui.weights, ui.outputs])]));
    root.appendChild(ui.info);
    draw();
  }

  function fillTables(result, sel) {
    const { scores, weights, outputs } = result;
    const cells = (table) => [...table.querySelectorAll("tr")].slice(1).map((tr) => [...tr.querySelectorAll("td")]);
    cells(ui.scores).forEach((row, i) => row.forEach((td, j) => {
      td.textContent = fmt(scores[i][j]);
      td.dataset.value = String(scores[i][j]);
    }));
    cells(ui.weights).forEach((row, i) => row.forEach((td, j) => {
      td.textContent = fmt(weights[i][j]);
      td.dataset.value = String(weights[i][j]);
      td.style.background = `rgba(42, 111, 219, ${0.85 * weights[i][j]})`;
    }));
    cells(ui.outputs).forEach((row, i) => {
      row[0].replaceChildren(element("span", { class: "vitp-swatch", style: `background:${rgb(outputs[i])}` }));
      for (let c = 0; c < 3; c++) {
        row[c + 1].textContent = outputs[i][c].toFixed(2);
        row[c + 1].dataset.value = String(outputs[i][c]);
      }
    });
    for (const table of [ui.scores, ui.weights, ui.outputs]) {
      [...table.querySelectorAll("tr")].slice(1).forEach((tr, i) => tr.classList.toggle("vitp-selected", i === sel));
    }
  }

  function draw() {
    if (!ui.weights) return;
    const Q = vectors("queries"), K = vectors("keys"), s = Number(get("scale"));
    const n = Q.length, sel = Math.min(n - 1, Math.max(0, Number(get("selected")) || 0));
    const result = attention(Q, K, colours(), s);
    for (const g of ui.handles) {
      const v = vectors(g.dataset.kind)[Number(g.dataset.index)];
      const [px, py] = toPx(v[0], v[1]);
      g.setAttribute("transform", `translate(${px.toFixed(1)},${py.toFixed(1)})`);
      g.dataset.x = String(v[0]);
      g.dataset.y = String(v[1]);
      const who = `${g.dataset.kind === "keys" ? "key" : "query"} of token ${Number(g.dataset.index) + 1}`;
      g.setAttribute("aria-label", `${who} at (${v[0].toFixed(2)}, ${v[1].toFixed(2)}); arrow keys move it`);
      g.setAttribute("aria-valuetext", `(${v[0].toFixed(2)}, ${v[1].toFixed(2)})`);
    }
    for (const { input, kind, i, c } of ui.inputs) {
      if (document.activeElement !== input) input.value = String(vectors(kind)[i][c]);
    }
    fillTables(result, sel);
    ui.scale.value = String(Math.log2(s));
    ui.scaleText.textContent = `α = ${s.toFixed(2)} (temperature 1/α = ${(1 / s).toFixed(2)})`;
    root.dataset.scale = String(s);
    const w = result.weights[sel], top = w.indexOf(Math.max(...w));
    ui.info.textContent = `query ${sel + 1} puts ${(100 * w[top]).toFixed(1)}% of its weight on key ${top + 1}`
      + (w[top] > 0.99 ? ": the softmax has saturated, the other keys get almost nothing (and almost no gradient)" : "");
  }

  const structural = ["value_colours", "labels", "presets", "extent"]; // drawn once per build
  const sizes = () => `${vectors("queries").length},${vectors("keys").length}`;
  let built = sizes();
  const onChange = () => {
    if (sizes() !== built) { built = sizes(); build(); } else draw();
  };
  const watched = ["query_vectors", "key_vectors", "scale", "selected", "head_dim"];
  for (const k of watched) model.on(`change:${k}`, onChange);
  for (const k of structural) model.on(`change:${k}`, build);
  build();
  return () => {
    for (const k of watched) model.off(`change:${k}`, onChange);
    for (const k of structural) model.off(`change:${k}`, build);
  };
}

export default { render };
