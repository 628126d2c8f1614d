"use strict";
// attninspect page: head view, model view and matrix of embedded 8-bit attention.
// All user text goes in through textContent; nothing is fetched.
(function () {
  let DATA = JSON.parse(document.getElementById("attention-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const VIRIDIS = [[68,1,84],[72,40,120],[62,74,137],[49,104,142],[38,130,142],
    [31,158,137],[53,183,121],[109,205,89],[180,222,44],[253,231,37]];
  // Fixed, distinguishable hues, one per head (by model head number), cycling past the last.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf", "#393b79", "#f4a300", "#0b6e4f", "#b5179e"];
  const MEAN_COLOR = "#333";
  // sel is "mean" (the mean of every head) or a sorted, non-empty array of head indices.
  const state = { doc: 0, layer: 0, sel: "mean", pinned: null, hover: null, pair: "all" };
  let docs = DATA.documents.map(prepare);

  function prepare(doc) {
    const raw = atob(doc.weights);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    // Queries (rows, T of them) and keys (columns, K): one token list for self-attention.
    const keys = doc.key_tokens || doc.tokens, keySpecial = doc.key_special || doc.special;
    return Object.assign({}, doc, { bytes: bytes, T: doc.tokens.length, K: keys.length,
      keys: keys, keySpecial: keySpecial, H: doc.heads.length, cache: {} });
  }

  // The (T, K) matrix of layer index li and head (index into doc.heads, "mean", or an array of
  // indices: their mean), as floats, row by row.
  function matrix(doc, li, head) {
    const key = li + ":" + head;
    if (doc.cache[key]) return doc.cache[key];
    const H = doc.H, size = doc.T * doc.K, out = new Float32Array(size);
    const heads = head === "mean" ? [...Array(H).keys()] : Array.isArray(head) ? head : [head];
    for (const h of heads) {
      const base = (li * H + h) * size;
      for (let i = 0; i < size; i++) out[i] += doc.bytes[base + i] / 255 / heads.length;
    }
    doc.cache[key] = out;
    return out;
  }

  function viridis(t) {
    const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1), lo = Math.floor(x);
    const hi = Math.min(lo + 1, VIRIDIS.length - 1), f = x - lo;
    return VIRIDIS[lo].map((c, i) => Math.round(c + (VIRIDIS[hi][i] - c) * f));
  }

  function headColor(doc, h) {
    return h === "mean" ? MEAN_COLOR : PALETTE[((doc.heads[h] % PALETTE.length) + PALETTE.length) % PALETTE.length];
  }

  function headName(doc, head) { return head === "mean" ? "mean" : String(doc.heads[head]); }

  // The heads drawn: ["mean"] or the selected indices.
  function drawn() { return state.sel === "mean" ? ["mean"] : state.sel; }

  function selText(d) {
    if (state.sel === "mean") return "head mean";
    const names = state.sel.map((h) => headName(d, h));
    return (names.length === 1 ? "head " : "heads ") + names.join(",");
  }

  function selHash(d) {
    if (state.sel === "mean" || state.sel.length === 1) return "head=" + headName(d, drawn()[0]);
    return "heads=" + state.sel.map((h) => headName(d, h)).join(",");
  }

  function isOn(h) { return state.sel === "mean" ? h === "mean" : state.sel.includes(h); }

  // A click on head h: mean alone, or h toggled in the selection (the last one stays on).
  function toggled(h) {
    if (h === "mean" || state.sel === "mean") return h === "mean" ? "mean" : [h];
    const next = state.sel.includes(h) ? state.sel.filter((x) => x !== h) : [...state.sel, h];
    return next.length ? next.sort((a, b) => a - b) : state.sel;
  }

  function integer(text) { return /^-?\d+$/.test(text || "") ? Number(text) : NaN; }

  function el(tag, attrs, text) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const doc = docs[integer(params.get("text") || "0")] ? integer(params.get("text") || "0") : state.doc;
    const d = docs[doc];
    state.doc = doc;
    // A layer the page does not hold opens the first one it does.
    if (params.has("layer")) state.layer = Math.max(0, d.layers.indexOf(integer(params.get("layer"))));
    if (state.layer >= d.layers.length) state.layer = 0;
    if (state.sel !== "mean") state.sel = state.sel.filter((h) => h < d.H);
    if (state.sel.length === 0) state.sel = "mean";
    const sel = readSel(d, params.has("heads") ? params.get("heads") : params.get("head"));
    if (sel !== null) state.sel = sel;
  }

  // "mean", or head numbers separated by commas -> a selection; null when nothing usable.
  function readSel(d, text) {
    if (text === null) return null;
    if (text.trim() === "mean") return "mean";
    const picked = text.split(",").map((t) => d.heads.indexOf(integer(t.trim()))).filter((h) => h >= 0);
    const unique = [...new Set(picked)].sort((a, b) => a - b);
    return unique.length ? unique : null;
  }

  function writeHash() {
    const d = docs[state.doc];
    let hash = "#layer=" + d.layers[state.layer] + "&" + selHash(d);
    if (docs.length > 1) hash += "&text=" + state.doc;
    if (location.hash !== hash) {
      try { history.replaceState(null, "", hash); } catch (e) { /* file: pages may refuse */ }
    }
  }

  function setState(changes) {
    Object.assign(state, changes);
    render();
  }

  function renderControls() {
    const d = docs[state.doc];
    const docSelect = document.getElementById("doc");
    document.getElementById("doc-label").hidden = docs.length < 2;
    if (docSelect.options.length !== docs.length) {
      docSelect.replaceChildren(...docs.map((doc, i) => el("option", { value: i }, doc.label)));
    }
    docSelect.value = String(state.doc);
    const layerSelect = document.getElementById("layer");
    layerSelect.replaceChildren(...d.layers.map((l, i) => el("option", { value: i }, String(l))));
    layerSelect.value = String(state.layer);
    const choices = ["mean", ...d.heads.keys()];
    const buttons = choices.map((h) => {
      const b = el("button", { type: "button", "data-head": String(h), style: "--c:" + headColor(d, h),
        "aria-pressed": String(isOn(h)), title: h === "mean" ? "the mean of every head"
          : "toggle head " + d.heads[h] + " (double-click: this head alone)" }, headName(d, h));
      if (isOn(h)) b.classList.add("on");
      b.addEventListener("click", () => setState({ sel: toggled(h) }));
      if (h !== "mean") b.addEventListener("dblclick", () => setState({ sel: [h] }));
      return b;
    });
    const all = el("button", { type: "button", "data-head": "all", style: "--c:" + MEAN_COLOR,
      title: "every head, each in its colour" }, "all");
    all.addEventListener("click", () => setState({ sel: [...d.heads.keys()] }));
    document.getElementById("heads").replaceChildren(...buttons, all);
    document.getElementById("pair-label").hidden = d.pair_start === undefined;
    document.getElementById("pair").value = state.pair;
  }

  // Queries on the left (from), keys on the right (to); for an encoder–decoder kind each
  // column is headed by the text it holds, as bertviz draws cross-attention.
  function renderHeadView() {
    const d = docs[state.doc], row = 22, width = 520, top = d.sides ? row : 0;
    const height = Math.max(d.T, d.K) * row + 10 + top;
    const svg = document.getElementById("head-view");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const focus = state.hover !== null ? state.hover : state.pinned;
    const y = (i) => 10 + top + i * row + row / 2;
    const lines = el("svg:g", { id: "lines" });
    let count = 0;
    // Several heads fan out a little within each row, so coinciding lines keep their colours apart.
    const heads = drawn(), step = Math.min(3, 14 / heads.length);
    for (const [j, h] of heads.entries()) {
      const shift = (j - (heads.length - 1) / 2) * step;
      const group = headLines(d, h, focus, (i) => y(i) + shift);
      count += group.childElementCount;
      lines.appendChild(group);
    }
    const labels = el("svg:g", {});
    if (d.sides) {
      labels.appendChild(el("svg:text", { x: 160, y: 10 + row / 2, "text-anchor": "end", class: "side",
        "data-side-name": "from" }, d.sides[0] + " (query)"));
      labels.appendChild(el("svg:text", { x: 360, y: 10 + row / 2, "text-anchor": "start", class: "side",
        "data-side-name": "to" }, d.sides[1] + " (key)"));
    }
    for (const side of ["from", "to"]) {
      const left = side === "from", tokens = left ? d.tokens : d.keys;
      const special = left ? d.special : d.keySpecial;
      for (let i = 0; i < tokens.length; i++) {
        const t = el("svg:text", { x: left ? 160 : 360, y: y(i), "text-anchor": left ? "end" : "start",
          "data-side": side, "data-index": i }, shorten(tokens[i]));
        t.appendChild(el("svg:title", {}, tokens[i]));
        if (special[i]) t.classList.add("special");
        if (focus && focus.side === side && focus.index === i) t.classList.add("active");
        t.addEventListener("mouseenter", () => {
          if (!(state.hover && state.hover.side === side && state.hover.index === i)) {
            setState({ hover: { side: side, index: i } });
          }
        });
        t.addEventListener("mouseleave", () => setState({ hover: null }));
        t.addEventListener("click", () => setState({ pinned: samePin(side, i) ? null : { side: side, index: i } }));
        labels.appendChild(t);
      }
    }
    svg.replaceChildren(lines, labels);
    svg.setAttribute("data-lines", count);
  }

  // A sentence pair's filter (bertviz's): which text each token is in, A before pair_start.
  function inPair(d, q, k) {
    if (d.pair_start === undefined || state.pair === "all") return true;
    const side = (i) => (i < d.pair_start ? "A" : "B");
    return side(q) + side(k) === state.pair;
  }

  // One head's lines (or the mean's) in its colour, opacity the weight, narrowed to the focus.
  function headLines(d, h, focus, y) {
    const K = d.K, m = matrix(d, state.layer, h);
    const group = el("svg:g", { "data-head": headName(d, h), stroke: headColor(d, h) });
    for (let q = 0; q < d.T; q++) {
      if (focus !== null && focus.side === "from" && focus.index !== q) continue;
      for (let k = 0; k < K; k++) {
        if (focus !== null && focus.side === "to" && focus.index !== k) continue;
        if (!inPair(d, q, k)) continue;
        const w = m[q * K + k];
        if (w < 0.01) continue;
        group.appendChild(el("svg:line", { x1: 170, y1: y(q), x2: 350, y2: y(k),
          "stroke-opacity": w.toFixed(3), "stroke-width": 2 }));
      }
    }
    return group;
  }

  function shorten(token) {
    const chars = Array.from(token);
    return chars.length > 20 ? chars.slice(0, 19).join("") + "…" : token;
  }

  function samePin(side, index) {
    return state.pinned !== null && state.pinned.side === side && state.pinned.index === index;
  }

  // A (rows, columns) matrix, one pixel a weight, scaled to its own maximum.
  function paint(canvas, m, rows, columns) {
    canvas.width = columns;
    canvas.height = rows;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(columns, rows);
    let peak = 0;
    for (let i = 0; i < m.length; i++) peak = Math.max(peak, m[i]);
    for (let i = 0; i < m.length; i++) {
      const [r, g, b] = viridis(peak > 0 ? m[i] / peak : 0);
      image.data.set([r, g, b, 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
  }

  function renderModelView() {
    const d = docs[state.doc], view = document.getElementById("model-view");
    view.style.gridTemplateColumns = "repeat(" + (d.H + 1) + ", 64px)";
    const cells = [];
    d.layers.forEach((layer, li) => {
      for (const h of [...d.heads.keys(), "mean"]) {
        const figure = el("figure", { "data-layer": layer, "data-head": headName(d, h) });
        if (li === state.layer && isOn(h)) figure.classList.add("current");
        const canvas = el("canvas", {});
        paint(canvas, matrix(d, li, h), d.T, d.K);
        if (d.T !== d.K) {  // keep the cells square: the longer side gets the 56 pixels
          const n = Math.max(d.T, d.K);
          canvas.style.width = Math.round((56 * d.K) / n) + "px";
          canvas.style.height = Math.round((56 * d.T) / n) + "px";
        }
        figure.append(canvas, el("figcaption", { style: "--c:" + headColor(d, h) }, "L" + layer + " " + (h === "mean" ? "mean" : "H" + d.heads[h])));
        figure.addEventListener("click", () => {
          setState({ layer: li, sel: h === "mean" ? "mean" : [h] });
          document.getElementById("head-view").scrollIntoView({ behavior: "smooth" });
        });
        cells.push(figure);
      }
    });
    view.replaceChildren(...cells);
  }

  function renderMatrix() {
    const d = docs[state.doc];
    const n = Math.max(d.T, d.K), canvas = document.getElementById("matrix");
    const side = Math.min(560, Math.max(160, n * 28));
    canvas.style.width = (d.K === n ? side : (side * d.K) / n) + "px";
    canvas.style.height = (d.T === n ? side : (side * d.T) / n) + "px";
    paint(canvas, matrix(d, state.layer, state.sel), d.T, d.K);
  }

  function onMatrixHover(event) {
    const d = docs[state.doc], canvas = event.target, box = canvas.getBoundingClientRect();
    const k = Math.floor(((event.clientX - box.left) / box.width) * d.K);
    const q = Math.floor(((event.clientY - box.top) / box.height) * d.T);
    if (q < 0 || k < 0 || q >= d.T || k >= d.K) return;
    const w = matrix(d, state.layer, state.sel)[q * d.K + k];
    document.getElementById("readout").textContent =
      d.tokens[q] + " (" + q + ") → " + d.keys[k] + " (" + k + "): " + w.toFixed(3);
  }

  function render() {
    const d = docs[state.doc];
    const kind = d.sides ? " · " + d.kind + " attention: " + d.sides[0] + " (query) → " + d.sides[1] + " (key)" : "";
    document.getElementById("meta").textContent = DATA.model + " · " + d.label + " · " + DATA.note + kind;
    document.getElementById("state").textContent =
      "layer " + d.layers[state.layer] + " · " + selText(d);
    renderControls();
    renderHeadView();
    renderMatrix();
    const modelKey = state.doc + ":" + state.layer + ":" + state.sel;
    if (state.modelKey !== modelKey) {
      state.modelKey = modelKey;
      renderModelView();
    }
    writeHash();
  }

  document.getElementById("doc").addEventListener("change", (e) =>
    setState({ doc: Number(e.target.value), layer: 0, sel: "mean", pinned: null }));
  document.getElementById("layer").addEventListener("change", (e) => setState({ layer: Number(e.target.value) }));
  document.getElementById("pair").addEventListener("change", (e) => setState({ pair: e.target.value }));
  document.getElementById("matrix").addEventListener("mousemove", onMatrixHover);
  window.addEventListener("hashchange", () => { readHash(); render(); });
  state.layer = DATA.initial.layer;
  state.sel = DATA.initial.head === "mean" ? "mean" : [DATA.initial.head];
  readHash();
  render();
  // A live page (attninspect serve) hands new data here: same drawing, new texts.
  window.attninspectPage = {
    load: function (data, pin) {
      DATA = data;
      docs = DATA.documents.map(prepare);
      Object.assign(state, { doc: 0, layer: DATA.initial.layer, pinned: pin === undefined ? null : pin,
        hover: null, modelKey: null, sel: DATA.initial.head === "mean" ? "mean" : [DATA.initial.head] });
      render();
    },
  };
})();
