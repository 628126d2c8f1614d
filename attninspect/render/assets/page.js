"use strict";
// attninspect page: head view, model view and matrix of embedded 8-bit attention.
// All user text goes in through textContent; nothing is fetched.
(function () {
  const DATA = JSON.parse(document.getElementById("attention-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const VIRIDIS = [[68,1,84],[72,40,120],[62,74,137],[49,104,142],[38,130,142],
    [31,158,137],[53,183,121],[109,205,89],[180,222,44],[253,231,37]];
  const state = { doc: 0, layer: 0, head: "mean", pinned: null, hover: null };
  const docs = DATA.documents.map(prepare);

  function prepare(doc) {
    const raw = atob(doc.weights);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return Object.assign({}, doc, { bytes: bytes, T: doc.tokens.length, H: doc.heads.length, cache: {} });
  }

  // The (T, T) matrix of layer index li and head (index into doc.heads, or "mean"), as floats.
  function matrix(doc, li, head) {
    const key = li + ":" + head;
    if (doc.cache[key]) return doc.cache[key];
    const T = doc.T, H = doc.H, size = T * T, out = new Float32Array(size);
    const heads = head === "mean" ? [...Array(H).keys()] : [head];
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

  function headColor(h, H) {
    return h === "mean" ? "#3b4cc0" : "hsl(" + Math.round((360 * h) / Math.max(H, 1)) + ", 70%, 45%)";
  }

  function headName(doc, head) { return head === "mean" ? "mean" : String(doc.heads[head]); }

  function el(tag, attrs, text) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const doc = docs[Number(params.get("text") || 0)] ? Number(params.get("text") || 0) : state.doc;
    const d = docs[doc];
    const li = d.layers.indexOf(Number(params.get("layer")));
    const headText = params.get("head");
    const hi = headText === null ? -1 : d.heads.indexOf(Number(headText));
    state.doc = doc;
    if (params.has("layer") && li >= 0) state.layer = li;
    if (headText === "mean") state.head = "mean";
    else if (hi >= 0 && headText !== "") state.head = hi;
  }

  function writeHash() {
    const d = docs[state.doc];
    let hash = "#layer=" + d.layers[state.layer] + "&head=" + headName(d, state.head);
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
      const b = el("button", { type: "button", "data-head": String(h), style: "--c:" + headColor(h, d.H) },
        h === "mean" ? "mean" : String(d.heads[h]));
      if (h === state.head) b.classList.add("on");
      b.addEventListener("click", () => setState({ head: h }));
      return b;
    });
    document.getElementById("heads").replaceChildren(...buttons);
  }

  function renderHeadView() {
    const d = docs[state.doc], T = d.T, row = 22, width = 520;
    const m = matrix(d, state.layer, state.head);
    const svg = document.getElementById("head-view");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (T * row + 10));
    svg.setAttribute("width", width);
    svg.setAttribute("height", T * row + 10);
    const focus = state.hover !== null ? state.hover : state.pinned;
    const lines = el("svg:g", { id: "lines", stroke: headColor(state.head, d.H) });
    const y = (i) => 10 + i * row + row / 2;
    for (let q = 0; q < T; q++) {
      if (focus !== null && focus.side === "from" && focus.index !== q) continue;
      for (let k = 0; k < T; k++) {
        if (focus !== null && focus.side === "to" && focus.index !== k) continue;
        const w = m[q * T + k];
        if (w < 0.01) continue;
        lines.appendChild(el("svg:line", { x1: 170, y1: y(q), x2: 350, y2: y(k),
          "stroke-opacity": w.toFixed(3), "stroke-width": 2 }));
      }
    }
    const labels = el("svg:g", {});
    for (let i = 0; i < T; i++) {
      for (const side of ["from", "to"]) {
        const left = side === "from";
        const t = el("svg:text", { x: left ? 160 : 360, y: y(i), "text-anchor": left ? "end" : "start",
          "data-side": side, "data-index": i }, shorten(d.tokens[i]));
        t.appendChild(el("svg:title", {}, d.tokens[i]));
        if (d.special[i]) t.classList.add("special");
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
    svg.setAttribute("data-lines", lines.childElementCount);
  }

  function shorten(token) {
    const chars = Array.from(token);
    return chars.length > 20 ? chars.slice(0, 19).join("") + "…" : token;
  }

  function samePin(side, index) {
    return state.pinned !== null && state.pinned.side === side && state.pinned.index === index;
  }

  function paint(canvas, m, T) {
    canvas.width = T;
    canvas.height = T;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(T, T);
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
        if (li === state.layer && h === state.head) figure.classList.add("current");
        const canvas = el("canvas", {});
        paint(canvas, matrix(d, li, h), d.T);
        figure.append(canvas, el("figcaption", {}, "L" + layer + " " + (h === "mean" ? "mean" : "H" + d.heads[h])));
        figure.addEventListener("click", () => {
          setState({ layer: li, head: h });
          document.getElementById("head-view").scrollIntoView({ behavior: "smooth" });
        });
        cells.push(figure);
      }
    });
    view.replaceChildren(...cells);
  }

  function renderMatrix() {
    const d = docs[state.doc];
    const canvas = document.getElementById("matrix"), side = Math.min(560, Math.max(160, d.T * 28));
    canvas.style.width = side + "px";
    canvas.style.height = side + "px";
    paint(canvas, matrix(d, state.layer, state.head), d.T);
  }

  function onMatrixHover(event) {
    const d = docs[state.doc], canvas = event.target, box = canvas.getBoundingClientRect();
    const k = Math.floor(((event.clientX - box.left) / box.width) * d.T);
    const q = Math.floor(((event.clientY - box.top) / box.height) * d.T);
    if (q < 0 || k < 0 || q >= d.T || k >= d.T) return;
    const w = matrix(d, state.layer, state.head)[q * d.T + k];
    document.getElementById("readout").textContent =
      d.tokens[q] + " (" + q + ") → " + d.tokens[k] + " (" + k + "): " + w.toFixed(3);
  }

  function render() {
    const d = docs[state.doc];
    document.getElementById("meta").textContent = DATA.model + " · " + d.label + " · " + DATA.note;
    document.getElementById("state").textContent =
      "layer " + d.layers[state.layer] + " · head " + headName(d, state.head);
    renderControls();
    renderHeadView();
    renderMatrix();
    if (state.modelKey !== state.doc + ":" + state.layer + ":" + state.head) {
      state.modelKey = state.doc + ":" + state.layer + ":" + state.head;
      renderModelView();
    }
    writeHash();
  }

  document.getElementById("doc").addEventListener("change", (e) =>
    setState({ doc: Number(e.target.value), layer: 0, head: "mean", pinned: null }));
  document.getElementById("layer").addEventListener("change", (e) => setState({ layer: Number(e.target.value) }));
  document.getElementById("matrix").addEventListener("mousemove", onMatrixHover);
  window.addEventListener("hashchange", () => { readHash(); render(); });
  state.layer = DATA.initial.layer;
  state.head = DATA.initial.head;
  readHash();
  render();
})();
