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
  const CACHED = 32;  // matrices kept (every head of a layer and a few means): 1 MiB each at 512 tokens
  const FLOOR = 0.01;  // the head view draws no line for a smaller weight, and says so
  // Another measure than weights: each matrix's bytes 0..254 span its [low, high] (doc.scale),
  // byte 255 is a masked cell (NaN). What the page calls each measure:
  const MASKED = 255, LEVELS = 254;
  const MEASURES = {
    scores: { value: "score", values: "scores", label: "attention score (pre-softmax logit)" },
    norms: { value: "norm", values: "norms", label: "norm ‖αf(x)‖" },
  };
  // sel is "mean" (the mean of every head) or a sorted, non-empty array of head indices.
  // query: the query token whose neuron view is open (null: none).
  const state = { doc: 0, layer: 0, sel: "mean", pinned: null, hover: null, pair: "all", query: null };
  let docs = DATA.documents.map(prepare);

  function prepare(doc) {
    const bytes = decode(doc.weights);
    // Queries (rows, T of them) and keys (columns, K): one token list for self-attention.
    const keys = doc.key_tokens || doc.tokens, keySpecial = doc.key_special || doc.special;
    return Object.assign({}, doc, { bytes: bytes, T: doc.tokens.length, K: keys.length,
      keys: keys, keySpecial: keySpecial, H: doc.heads.length, cache: new Map(),
      meanBytes: doc.mean_weights ? decode(doc.mean_weights) : null,
      meanOf: doc.mean_of || doc.heads.length, rollout: Boolean(doc.rollout),
      vectors: doc.neurons ? vectorsOf(doc.neurons) : null,
      measure: doc.measure || "weights", scale: doc.scale || null, meanScale: doc.mean_scale || null });
  }

  // One layer's queries (H, T, d) and keys (KV, K, d), and scores (H, T, K) where the model
  // adds more than a scale and a mask, as float32 arrays.
  function vectorsOf(n) {
    const floats = (text) => new Float32Array(decode(text).buffer);
    return { layer: n.layer, size: n.size, heads: n.heads, kvHeads: n.kv_heads, queries: floats(n.queries),
      keys: floats(n.keys), scores: n.scores ? floats(n.scores) : null, scale: n.scale, mask: n.mask };
  }

  function decode(text) {
    const raw = atob(text), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // The (T, K) matrix of layer index li and head (index into doc.heads, "mean", or an array of
  // indices: their mean), as floats, row by row. "mean" is every head of the model, as in the
  // terminal, even where the page holds only some of them (doc.meanBytes). A few are cached.
  function matrix(doc, li, head) {
    const key = li + ":" + head;
    if (doc.cache.has(key)) return doc.cache.get(key);
    const H = doc.H, size = doc.T * doc.K;
    const out = doc.measure === "weights" ? weightsMatrix(doc, li, head, H, size) : valuesMatrix(doc, li, head, H, size);
    doc.cache.set(key, out);
    if (doc.cache.size > CACHED) doc.cache.delete(doc.cache.keys().next().value);
    return out;
  }

  // Another measure's matrix: each byte back to its value (NaN where masked); several heads'
  // mean. out.step: the widest step between two values of a byte (what the value may be off by,
  // twice over), so that a tooltip shows no digit finer than the bytes hold.
  function valuesMatrix(doc, li, head, H, size) {
    const out = new Float32Array(size);
    const sources = head === "mean" && doc.meanBytes ? [[doc.meanBytes, li * size, doc.meanScale[li], 1]]
      : (head === "mean" ? [...Array(H).keys()] : Array.isArray(head) ? head : [head])
        .map((h, _, all) => [doc.bytes, (li * H + h) * size, doc.scale[li * H + h], all.length]);
    let step = 0;
    for (const [bytes, base, range, count] of sources) {
      const low = range[0], per = (range[1] - range[0]) / LEVELS;
      step = Math.max(step, per);
      for (let i = 0; i < size; i++) {
        const b = bytes[base + i];
        out[i] += b === MASKED ? NaN : (low + b * per) / count;
      }
    }
    out.step = step;
    return out;
  }

  function weightsMatrix(doc, li, head, H, size) {
    const out = new Float32Array(size);
    if (head === "mean" && doc.meanBytes) {
      for (let i = 0, base = li * size; i < size; i++) out[i] = doc.meanBytes[base + i] / 255;
    } else {
      const heads = head === "mean" ? [...Array(H).keys()] : Array.isArray(head) ? head : [head];
      for (const h of heads) {
        const base = (li * H + h) * size;
        for (let i = 0; i < size; i++) out[i] += doc.bytes[base + i] / 255 / heads.length;
      }
    }
    return out;
  }

  // The smallest and largest value of a matrix of another measure (masked cells left out).
  function rangeOf(m) {
    let low = Infinity, high = -Infinity;
    for (let i = 0; i < m.length; i++) {
      if (m[i] < low) low = m[i];
      if (m[i] > high) high = m[i];
    }
    return low <= high ? [low, high] : [0, 0];
  }

  // A value of another measure as a tooltip shows it: three significant digits, but none finer
  // than half the step between two byte values.
  function valueText(v, step) {
    if (Number.isNaN(v)) return "masked";
    const sig = Math.max(0, 2 - (v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)))));
    const held = step > 0 ? Math.max(0, Math.ceil(-Math.log10(step / 2))) : sig;
    return v.toFixed(Math.min(sig, held, 20));
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

  // What the page calls the mean (its button, thumbnails and state): a rollout page's one matrix
  // per layer is the rollout, not a head.
  function headLabel(doc, head) { return head === "mean" && doc.rollout ? "rollout" : headName(doc, head); }

  function meanTitle(doc) {
    if (doc.rollout) return "the attention rollout up to this layer";
    if (doc.measure === "norms") {
      return doc.meanBytes ? "the norm of the sum over all " + doc.meanOf + " heads of the layer, ‖Σₕ αₕfₕ(x)‖"
        : "the mean of the " + doc.H + " heads' norms (this page holds no norm of their sum)";
    }
    const held = doc.meanOf > doc.H ? " (this page holds " + doc.H + " of them)" : "";
    return "the mean of all " + doc.meanOf + " heads of the layer" + held;
  }

  // The heads drawn: ["mean"] or the selected indices.
  function drawn() { return state.sel === "mean" ? ["mean"] : state.sel; }

  function selText(d) {
    if (state.sel === "mean") return d.rollout ? "rollout" : "head mean";
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

  // --focus on a saved page: its query row pinned, as the picture and the live page mark it.
  function initialPin(data) {
    return Number.isInteger(data.initial.focus) ? { side: "from", index: data.initial.focus } : null;
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
    const choices = d.rollout ? ["mean"] : ["mean", ...d.heads.keys()];
    const buttons = choices.map((h) => {
      const b = el("button", { type: "button", "data-head": String(h), style: "--c:" + headColor(d, h),
        "aria-pressed": String(isOn(h)), title: h === "mean" ? meanTitle(d)
          : "toggle head " + d.heads[h] + " (double-click: this head alone)" }, headLabel(d, h));
      if (isOn(h)) b.classList.add("on");
      b.addEventListener("click", () => setState({ sel: toggled(h) }));
      if (h !== "mean") b.addEventListener("dblclick", () => setState({ sel: [h] }));
      return b;
    });
    const all = el("button", { type: "button", "data-head": "all", style: "--c:" + MEAN_COLOR,
      title: "every head, each in its colour" }, "all");
    all.addEventListener("click", () => setState({ sel: [...d.heads.keys()] }));
    const note = el("span", { id: "mean-note", class: "hint" }, d.rollout ? "" : "mean: " + meanTitle(d));
    document.getElementById("heads").replaceChildren(...buttons, ...(d.rollout ? [] : [all]), note);
    document.getElementById("pair-label").hidden = d.pair_start === undefined;
    document.getElementById("pair").value = state.pair;
  }

  // The head view: queries on the left (from), keys on the right (to); for an encoder–decoder
  // kind each column is headed by the text it holds, as bertviz draws cross-attention. Lines go
  // on one canvas the size of the visible box and only the visible rows get labels, so a click
  // costs the same at 512 tokens as at 10. The box scrolls; a scroll redraws.
  const HV = { row: 22, width: 520, left: 160, right: 360 };

  function headGeometry(d) {
    const box = document.getElementById("head-view"), top = d.sides ? HV.row : 0;
    const height = Math.max(d.T, d.K) * HV.row + 10 + top;
    const body = box.firstElementChild;
    body.style.height = height + "px";
    const view = Math.min(height, box.clientHeight || height), scroll = Math.min(box.scrollTop, height - view);
    return { box: box, body: body, top: top, height: height, from: scroll, to: scroll + view,
      y: (i) => 10 + top + i * HV.row + HV.row / 2 };
  }

  function renderHeadView() {
    const d = docs[state.doc], g = headGeometry(d);
    const focus = state.hover !== null ? state.hover : state.pinned;
    const canvas = g.body.querySelector("canvas"), ratio = window.devicePixelRatio || 1;
    canvas.width = HV.width * ratio;
    canvas.height = (g.to - g.from) * ratio;
    canvas.style.width = HV.width + "px";
    canvas.style.height = g.to - g.from + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, -g.from * ratio);
    ctx.lineWidth = 2;
    let count = 0;
    const summary = [];
    // Several heads fan out a little within each row, so coinciding lines keep their colours apart.
    const heads = drawn(), step = Math.min(3, 14 / heads.length);
    for (const [j, h] of heads.entries()) {
      const shift = (j - (heads.length - 1) / 2) * step;
      const pairs = [];
      const lines = strokeHead(ctx, d, h, focus, (i) => g.y(i) + shift, g, pairs);
      summary.push({ head: headName(d, h), color: headColor(d, h), lines: lines, pairs: pairs });
      count += lines;
    }
    g.body.querySelector("svg").replaceChildren(...headLabels(d, g, focus));
    g.box.setAttribute("data-lines", count);
    headViewDrawn = summary;
  }
  let headViewDrawn = [];

  // A sentence pair's filter (bertviz's): which text each token is in, A before pair_start.
  function inPair(d, q, k) {
    if (d.pair_start === undefined || state.pair === "all") return true;
    const side = (i) => (i < d.pair_start ? "A" : "B");
    return side(q) + side(k) === state.pair;
  }

  // One head's lines (or the mean's) in its colour, opacity the weight, narrowed to the focus
  // and to the lines that cross the visible band; weights under FLOOR are not drawn. Lines go
  // into a few paths by opacity, so thousands cost a few strokes. Returns how many it drew, and
  // records the first PAIRS_KEPT of them as [query, key] in ``pairs`` (what headView() reports).
  const PAIRS_KEPT = 4096;
  function strokeHead(ctx, d, h, focus, y, g, pairs) {
    const K = d.K, m = matrix(d, state.layer, h), paths = new Map();
    // Another measure: line strength is the value on [0, 1] over this matrix's own range.
    const range = d.measure === "weights" ? null : rangeOf(m);
    const span = range && range[1] > range[0] ? range[1] - range[0] : 0;
    let count = 0;
    for (let q = 0; q < d.T; q++) {
      if (focus !== null && focus.side === "from" && focus.index !== q) continue;
      const y1 = y(q);
      for (let k = 0; k < K; k++) {
        if (focus !== null && focus.side === "to" && focus.index !== k) continue;
        if (!inPair(d, q, k)) continue;
        const w = range ? (span > 0 ? (m[q * K + k] - range[0]) / span : 0) : m[q * K + k];
        if (Number.isNaN(w) || w < FLOOR) continue;  // a masked cell (NaN) has no line
        const y2 = y(k);
        if (Math.max(y1, y2) < g.from || Math.min(y1, y2) > g.to) continue;
        const level = Math.round(w * 32);
        if (!paths.has(level)) paths.set(level, new Path2D());
        paths.get(level).moveTo(HV.left + 10, y1);
        paths.get(level).lineTo(HV.right - 10, y2);
        if (pairs.length < PAIRS_KEPT) pairs.push([q, k]);
        count++;
      }
    }
    ctx.strokeStyle = headColor(d, h);
    for (const [level, path] of paths) {
      ctx.globalAlpha = Math.min(1, Math.max(level, 1) / 32);
      ctx.stroke(path);
    }
    ctx.globalAlpha = 1;
    return count;
  }

  // The labels of the visible rows (a few dozen elements whatever the length).
  function headLabels(d, g, focus) {
    const labels = [];
    if (d.sides && g.from < 10 + HV.row) {
      labels.push(el("svg:text", { x: HV.left, y: 10 + HV.row / 2, "text-anchor": "end", class: "side",
        "data-side-name": "from" }, d.sides[0] + " (query)"));
      labels.push(el("svg:text", { x: HV.right, y: 10 + HV.row / 2, "text-anchor": "start", class: "side",
        "data-side-name": "to" }, d.sides[1] + " (key)"));
    }
    const first = Math.max(0, Math.floor((g.from - 10 - g.top) / HV.row) - 1);
    const last = Math.ceil((g.to - 10 - g.top) / HV.row) + 1;
    for (const side of ["from", "to"]) {
      const left = side === "from", tokens = left ? d.tokens : d.keys;
      const special = left ? d.special : d.keySpecial;
      for (let i = first; i < Math.min(tokens.length, last); i++) {
        labels.push(tokenLabel(side, i, tokens[i], special[i], focus, g.y(i)));
      }
    }
    const svg = g.body.querySelector("svg");
    svg.setAttribute("viewBox", "0 0 " + HV.width + " " + g.height);
    svg.setAttribute("width", HV.width);
    svg.setAttribute("height", g.height);
    return labels;
  }

  function tokenLabel(side, i, token, special, focus, y) {
    const left = side === "from";
    const t = el("svg:text", { x: left ? HV.left : HV.right, y: y, "text-anchor": left ? "end" : "start",
      "data-side": side, "data-index": i }, shorten(token));
    t.appendChild(el("svg:title", {}, token));
    if (special) t.classList.add("special");
    if (focus && focus.side === side && focus.index === i) t.classList.add("active");
    t.addEventListener("mouseenter", () => {
      if (!(state.hover && state.hover.side === side && state.hover.index === i)) {
        setState({ hover: { side: side, index: i } });
      }
    });
    t.addEventListener("mouseleave", () => setState({ hover: null }));
    t.addEventListener("click", () => setState(Object.assign({ pinned: samePin(side, i) ? null : { side: side, index: i } },
      left ? { query: i } : {})));
    return t;
  }

  function shorten(token) {
    const chars = Array.from(token);
    return chars.length > 20 ? chars.slice(0, 19).join("") + "…" : token;
  }

  function samePin(side, index) {
    return state.pinned !== null && state.pinned.side === side && state.pinned.index === index;
  }

  // The viridis scale as 256 packed RGBA pixels, for painting whole matrices at once.
  const LUT = (function () {
    const lut = new Uint32Array(256), bytes = new Uint8Array(lut.buffer);
    for (let i = 0; i < 256; i++) bytes.set([...viridis(i / 255), 255], i * 4);
    return lut;
  })();

  function peakOf(m) {
    let peak = 0;
    for (let i = 0; i < m.length; i++) if (m[i] > peak) peak = m[i];
    return peak;
  }

  // A (rows, columns) matrix, one pixel a weight, scaled to its own maximum (returned); with
  // ``measured`` (another measure), from its smallest to its largest value ([low, high]
  // returned), a masked cell (NaN) left blank (a transparent pixel).
  function paint(canvas, m, rows, columns, measured) {
    canvas.width = columns;
    canvas.height = rows;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(columns, rows);
    const pixels = new Uint32Array(image.data.buffer);
    if (measured) {
      const range = rangeOf(m), scale = range[1] > range[0] ? 255 / (range[1] - range[0]) : 0;
      for (let i = 0; i < m.length; i++) {
        pixels[i] = Number.isNaN(m[i]) ? 0 : LUT[Math.min(255, Math.round((m[i] - range[0]) * scale))];
      }
      ctx.putImageData(image, 0, 0);
      return range;
    }
    const peak = peakOf(m), scale = peak > 0 ? 255 / peak : 0;
    for (let i = 0; i < m.length; i++) pixels[i] = LUT[Math.min(255, Math.round(m[i] * scale))];
    ctx.putImageData(image, 0, 0);
    return peak;
  }

  // Layer li's head h (or every head's mean) pooled to at most `cells` a side: the mean over
  // near-equal blocks, read straight from the bytes (no full matrix is made for a thumbnail).
  function pooled(d, li, h, cells) {
    if (d.measure !== "weights") return pooledValues(d, li, h, cells);
    const R = Math.min(d.T, cells), C = Math.min(d.K, cells), out = new Float32Array(R * C);
    const size = d.T * d.K, sources = h !== "mean" ? [[d.bytes, (li * d.H + h) * size]]
      : d.meanBytes ? [[d.meanBytes, li * size]] : [...d.heads.keys()].map((x) => [d.bytes, (li * d.H + x) * size]);
    const rowOf = (q) => Math.floor((q * R) / d.T), colOf = new Int32Array(d.K).map((_, k) => Math.floor((k * C) / d.K));
    for (const [bytes, base] of sources) {
      for (let q = 0; q < d.T; q++) {
        const row = rowOf(q) * C, offset = base + q * d.K;
        for (let k = 0; k < d.K; k++) out[row + colOf[k]] += bytes[offset + k];
      }
    }
    const per = (d.T / R) * (d.K / C) * 255 * sources.length;
    for (let i = 0; i < out.length; i++) out[i] /= per;
    return { values: out, rows: R, columns: C };
  }

  // `pooled` for another measure: each block's mean value, masked cells left out (a block of
  // masked cells only is NaN: blank).
  function pooledValues(d, li, h, cells) {
    const R = Math.min(d.T, cells), C = Math.min(d.K, cells), sums = new Float64Array(R * C);
    const counts = new Uint32Array(R * C), size = d.T * d.K;
    const sources = h !== "mean" ? [[d.bytes, (li * d.H + h) * size, d.scale[li * d.H + h]]]
      : d.meanBytes ? [[d.meanBytes, li * size, d.meanScale[li]]]
        : [...d.heads.keys()].map((x) => [d.bytes, (li * d.H + x) * size, d.scale[li * d.H + x]]);
    const rowOf = (q) => Math.floor((q * R) / d.T), colOf = new Int32Array(d.K).map((_, k) => Math.floor((k * C) / d.K));
    for (const [bytes, base, range] of sources) {
      const per = (range[1] - range[0]) / LEVELS;
      for (let q = 0; q < d.T; q++) {
        const row = rowOf(q) * C, offset = base + q * d.K;
        for (let k = 0; k < d.K; k++) {
          const b = bytes[offset + k];
          if (b === MASKED) continue;
          sums[row + colOf[k]] += range[0] + b * per;
          counts[row + colOf[k]]++;
        }
      }
    }
    const out = new Float32Array(R * C);
    for (let i = 0; i < out.length; i++) out[i] = counts[i] ? sums[i] / counts[i] : NaN;
    return { values: out, rows: R, columns: C };
  }

  // The model view's figures are drawn once per text; a click only moves the outline.
  function renderModelView() {
    const d = docs[state.doc], view = document.getElementById("model-view");
    if (view.dataset.doc !== String(state.doc) || view.doc !== d) {
      // One figure per head and the mean a row; a rollout's one figure per layer, side by side.
      view.style.gridTemplateColumns = "repeat(" + (d.rollout ? d.layers.length : d.H + 1) + ", 64px)";
      view.replaceChildren(...d.layers.flatMap((layer, li) =>
        (d.rollout ? ["mean"] : [...d.heads.keys(), "mean"]).map((h) => thumbnail(d, layer, li, h))));
      view.dataset.doc = String(state.doc);
      view.doc = d;
    }
    for (const figure of view.children) {
      const on = Number(figure.dataset.li) === state.layer && isOn(figure.dataset.head === "mean" ? "mean" : Number(figure.dataset.h));
      figure.classList.toggle("current", on);
    }
  }

  function thumbnail(d, layer, li, h) {
    const figure = el("figure", { "data-layer": layer, "data-head": headName(d, h), "data-li": li,
      "data-h": String(h), title: h === "mean" ? meanTitle(d) : "head " + d.heads[h] });
    const canvas = el("canvas", {}), cells = pooled(d, li, h, 56);
    paint(canvas, cells.values, cells.rows, cells.columns, d.measure !== "weights");
    if (d.T !== d.K) {  // keep the cells square: the longer side gets the 56 pixels
      const n = Math.max(d.T, d.K);
      canvas.style.width = Math.round((56 * d.K) / n) + "px";
      canvas.style.height = Math.round((56 * d.T) / n) + "px";
    }
    figure.append(canvas, el("figcaption", { style: "--c:" + headColor(d, h) }, "L" + layer + " " + (h === "mean" ? headLabel(d, h) : "H" + d.heads[h])));
    figure.addEventListener("click", () => {
      setState({ layer: li, sel: h === "mean" ? "mean" : [h] });
      document.getElementById("head-view").scrollIntoView({ behavior: "smooth" });
    });
    return figure;
  }

  // The matrix, its token labels (thinned to fit) and its colour scale, with the maximum it
  // is scaled to; repainted only when the text, layer or heads change.
  function renderMatrix() {
    const d = docs[state.doc];
    const n = Math.max(d.T, d.K), canvas = document.getElementById("matrix");
    const side = Math.min(560, Math.max(160, n * 28));
    const width = d.K === n ? side : (side * d.K) / n, height = d.T === n ? side : (side * d.T) / n;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    const peak = paint(canvas, matrix(d, state.layer, state.sel), d.T, d.K, d.measure !== "weights");
    axisLabels(document.getElementById("matrix-queries"), d.tokens, d.special, height / d.T, "height");
    axisLabels(document.getElementById("matrix-keys"), d.keys, d.keySpecial, width / d.K, "width");
    document.getElementById("matrix-keys").style.width = width + "px";
    document.getElementById("matrix-queries").style.height = height + "px";
    matrixLegend(peak, d);
  }

  // One axis's token labels, every k-th where the cells are too small for each to have one.
  function axisLabels(box, tokens, special, cell, along) {
    const every = Math.max(1, Math.ceil(14 / cell)), labels = [];
    for (let i = 0; i < tokens.length; i += every) {
      const label = el("span", { "data-index": i, title: i + ": " + tokens[i],
        style: (along === "height" ? "top:" : "left:") + (i * cell) + "px;" + along + ":" + Math.max(cell, 14) + "px" },
      Array.from(tokens[i]).length > 12 ? Array.from(tokens[i]).slice(0, 11).join("") + "…" : tokens[i]);
      if (special[i]) label.classList.add("special");
      labels.push(label);
    }
    box.replaceChildren(...labels);
    box.dataset.every = String(every);
  }

  // The colour scale under the matrix: 0 to its maximum for weights; for another measure its
  // smallest to its largest value, named, and blank = masked (``peak``: [low, high] then).
  function matrixLegend(peak, d) {
    const scale = document.getElementById("matrix-scale"), ctx = scale.getContext("2d");
    const image = ctx.createImageData(256, 1), pixels = new Uint32Array(image.data.buffer);
    pixels.set(LUT);
    ctx.putImageData(image, 0, 0);
    legendFrame(d.measure);
    if (d.measure === "weights") {
      document.getElementById("matrix-max").textContent = peak.toFixed(3);
      return;
    }
    const m = matrix(d, state.layer, state.sel);
    document.getElementById("matrix-min").textContent = valueText(peak[0], m.step);
    document.getElementById("matrix-max").textContent = valueText(peak[1], m.step);
    document.getElementById("matrix-masked").textContent = m.some(Number.isNaN) ? "; blank cells are masked" : "";
  }

  // The legend's words around the scale, for the measure shown (the page's own for weights: a
  // weights page never rewrites them; a live page that loads another measure does).
  let legendMeasure = "weights";
  let legendWords = null;
  function legendFrame(measure) {
    if (measure === legendMeasure) return;
    const legend = document.getElementById("matrix-legend");
    if (legendWords === null) legendWords = [...legend.childNodes];
    legendMeasure = measure;
    if (measure === "weights") {
      legend.replaceChildren(...legendWords);
      return;
    }
    const scale = document.getElementById("matrix-scale"), max = document.getElementById("matrix-max");
    legend.replaceChildren(el("output", { id: "matrix-min" }), " ", scale, " ", max,
      " (this matrix's smallest → largest " + MEASURES[measure].value, el("span", { id: "matrix-masked" }), ")");
  }

  // The hints above the views, for the measure shown: the page's own words for weights.
  let hintWords = null;
  function renderHints(d) {
    const hints = document.querySelectorAll("main > section > p.hint");
    if (hintWords === null) hintWords = [...hints].map((p) => p.textContent);
    const m = MEASURES[d.measure];
    const words = !m ? hintWords : [
      "Lines join each token (left, from) to what it attends to (right, to); colour is the head, " +
      "opacity the " + m.value + " normalised to [0, 1] over the drawn matrix (its smallest: none, " +
      "its largest: full). Under 0.01 of that range, and masked cells, get no line. Click heads to " +
      "toggle them (several at once: the mean of their " + m.values + "), double-click one to show it " +
      "alone, or pick the mean. Hover a token to isolate its lines, click to pin it. Long texts scroll " +
      "inside the box.",
      "Every layer × head (and the head mean), each coloured from its own smallest to its largest " +
      m.value + "; blank: masked. Click one to open it above.",
      "Rows: from (query), columns: to (key). Each cell is the " + m.label + ". With several heads " +
      "on, their mean. Colours go from this matrix's smallest to its largest " + m.value + "; blank " +
      "cells are masked. Hover a cell for its value. Long texts label every few tokens.",
      hintWords[3]];
    hints.forEach((p, i) => { if (words[i] !== undefined && p.textContent !== words[i]) p.textContent = words[i]; });
  }

  function onMatrixHover(event) {
    const d = docs[state.doc], canvas = event.target, box = canvas.getBoundingClientRect();
    const k = Math.floor(((event.clientX - box.left) / box.width) * d.K);
    const q = Math.floor(((event.clientY - box.top) / box.height) * d.T);
    if (q < 0 || k < 0 || q >= d.T || k >= d.K) return;
    const m = matrix(d, state.layer, state.sel), w = m[q * d.K + k];
    const shown = d.measure === "weights" ? w.toFixed(3)
      : Number.isNaN(w) ? "masked" : MEASURES[d.measure].value + " " + valueText(w, m.step);
    // User text in <bdi>: a bidi control inside a token cannot reorder the rest of the line.
    document.getElementById("readout").replaceChildren(
      el("bdi", {}, d.tokens[q]), " (" + q + ") → ", el("bdi", {}, d.keys[k]), " (" + k + "): " + shown);
  }

  // The neuron view (bertviz's) of one head for the query token state.query: the query vector,
  // each key vector, their elementwise product, q·k, the model's score and the weight. Vectors
  // are strips of one cell per dimension, red positive and blue negative, darker for larger.
  const POSITIVE = [178, 24, 43], NEGATIVE = [33, 102, 172];

  function neuronRows(v, head, q, T, K) {
    const d = v.size, group = v.heads / v.kvHeads, kh = Math.floor(head / group);
    const query = v.queries.subarray((head * T + q) * d, (head * T + q + 1) * d);
    const rows = [];
    for (let j = 0; j < K; j++) {
      const key = v.keys.subarray((kh * K + j) * d, (kh * K + j + 1) * d), product = new Float32Array(d);
      let dot = 0;
      for (let i = 0; i < d; i++) { product[i] = query[i] * key[i]; dot += query[i] * key[i]; }
      const score = v.scores ? v.scores[(head * T + q) * K + j]
        : v.mask === "causal" && j > q ? NaN : dot * v.scale;
      rows.push({ key: key, product: product, dot: dot, score: score, weight: NaN });
    }
    const open = rows.filter((r) => !Number.isNaN(r.score));
    const top = Math.max(...open.map((r) => r.score));
    let total = 0;
    for (const r of open) total += Math.exp(r.score - top);
    for (const r of open) r.weight = Math.exp(r.score - top) / total;
    return { query: query, rows: rows };
  }

  function largest(arrays) {
    let peak = 0;
    for (const a of arrays) for (let i = 0; i < a.length; i++) peak = Math.max(peak, Math.abs(a[i]));
    return peak;
  }

  function vectorStrip(values, peak) {
    const canvas = el("canvas", { class: "strip", width: values.length, height: 1 });
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(values.length, 1);
    for (let i = 0; i < values.length; i++) {
      const share = peak > 0 ? Math.min(Math.abs(values[i]) / peak, 1) : 0;
      const end = values[i] >= 0 ? POSITIVE : NEGATIVE;
      image.data.set([...end.map((c) => Math.round(255 + (c - 255) * share)), 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
    canvas.style.width = Math.min(320, values.length * 6) + "px";
    return canvas;
  }

  // Why the view cannot be drawn for the current choice, or null.
  function neuronRefusal(d) {
    if (!d.vectors) return "This page holds no query and key vectors: pages saved by attninspect run " +
      "--save FILE.html from a model whose attention passes through the tap hold them for the viewed layer.";
    if (d.layers[state.layer] !== d.vectors.layer) return "This page holds the vectors of layer " +
      d.vectors.layer + " only: choose layer " + d.vectors.layer + " (or save the page with --layer " +
      d.layers[state.layer] + ").";
    if (state.sel === "mean" || state.sel.length !== 1) return "The neuron view is one head's: pick one " +
      "head (double-click it); the mean over heads has no single query.";
    return null;
  }

  function renderNeurons() {
    const d = docs[state.doc], box = document.getElementById("neurons");
    if (state.query === null || state.query >= d.T) {
      box.replaceChildren(el("p", { class: "hint" }, "Click a row of the matrix, or a query token (left) in the head view."));
      return;
    }
    const refusal = neuronRefusal(d);
    const title = el("p", { class: "neuron-title" }, "query ");
    title.append(el("bdi", {}, d.tokens[state.query]), " (@" + state.query + ")");
    if (refusal !== null) {
      box.replaceChildren(title, el("p", { class: "refusal" }, refusal));
      return;
    }
    const head = d.heads[state.sel[0]], v = d.vectors;
    title.prepend("layer " + v.layer + " · head " + head + " · ");
    const found = neuronRows(v, head, state.query, d.T, d.K);
    const keyPeak = largest(found.rows.map((r) => r.key)), productPeak = largest(found.rows.map((r) => r.product));
    const table = el("table", { id: "neuron-table" });
    const header = el("tr", {});
    for (const name of ["key", "k", "q⊙k", "q·k", "score", "weight"]) header.append(el("th", {}, name));
    const queryRow = el("tr", { class: "query-row" });
    queryRow.append(el("th", {}, "q"), el("td", {}), el("td", {}), el("td", {}), el("td", {}), el("td", {}));
    queryRow.children[1].append(vectorStrip(found.query, largest([found.query])));
    table.append(el("thead", {}, undefined), el("tbody", {}));
    table.tHead.append(header, queryRow);
    const number = (x, digits) => Number.isNaN(x) ? "" : x.toFixed(digits);
    for (const [j, r] of found.rows.entries()) {
      const row = el("tr", { "data-key": j });
      const label = el("td", { class: "token" + (d.keySpecial[j] ? " special" : ""), title: d.keys[j] }, j + " ");
      label.append(el("bdi", {}, shorten(d.keys[j])));
      const strips = [el("td", {}), el("td", {})];
      strips[0].append(vectorStrip(r.key, keyPeak));
      strips[1].append(vectorStrip(r.product, productPeak));
      row.append(label, ...strips, el("td", { class: "n" }, number(r.dot, 2)),
        el("td", { class: "n" }, number(r.score, 2)), el("td", { class: "n" }, number(r.weight, 3)));
      table.tBodies[0].append(row);
    }
    const legend = el("p", { class: "hint" }, "Red: positive, blue: negative, darker: larger (q, k and q⊙k " +
      "each scaled to their own largest |value|). score: the model's own logit (q·k scaled, with its " +
      "mask and bias); weight: the softmax of the scores. " + v.size + " dimensions.");
    box.replaceChildren(title, table, legend);
  }

  // The header line: the model, the text and the note are user text, each isolated in <bdi>.
  function renderMeta(d) {
    const parts = [el("bdi", {}, DATA.model), " · ", el("bdi", {}, d.label), " · ", el("bdi", {}, DATA.note)];
    if (d.sides) parts.push(" · " + d.kind + " attention: " + d.sides[0] + " (query) → " + d.sides[1] + " (key)");
    document.getElementById("meta").replaceChildren(...parts);
  }

  function render() {
    const d = docs[state.doc];
    renderMeta(d);
    document.getElementById("state").textContent =
      "layer " + d.layers[state.layer] + " · " + selText(d) + (d.measure === "weights" ? "" : " · " + d.measure);
    renderHints(d);
    renderControls();
    renderHeadView();
    const key = state.doc + ":" + state.layer + ":" + state.sel + ":" + docs.length;
    if (state.modelKey !== key || state.matrixDoc !== d) {
      state.modelKey = key;
      state.matrixDoc = d;
      renderMatrix();
      renderModelView();
    }
    renderNeurons();
    writeHash();
  }

  let scrolled = false;
  function onHeadViewScroll() {
    if (scrolled) return;
    scrolled = true;
    requestAnimationFrame(() => { scrolled = false; renderHeadView(); });
  }

  document.getElementById("doc").addEventListener("change", (e) =>
    setState({ doc: Number(e.target.value), layer: 0, sel: "mean", pinned: null, query: null }));
  document.getElementById("layer").addEventListener("change", (e) => setState({ layer: Number(e.target.value) }));
  document.getElementById("pair").addEventListener("change", (e) => setState({ pair: e.target.value }));
  document.getElementById("matrix").addEventListener("mousemove", onMatrixHover);
  document.getElementById("matrix").addEventListener("click", (event) => {
    const d = docs[state.doc], box = event.target.getBoundingClientRect();
    const q = Math.floor(((event.clientY - box.top) / box.height) * d.T);
    if (q >= 0 && q < d.T) setState({ query: q });
  });
  document.getElementById("head-view").addEventListener("scroll", onHeadViewScroll);
  window.addEventListener("hashchange", () => { readHash(); render(); });
  state.layer = DATA.initial.layer;
  state.sel = DATA.initial.head === "mean" ? "mean" : [DATA.initial.head];
  state.pinned = initialPin(DATA);
  // --focus on a page that holds vectors: its neuron view opens too.
  if (state.pinned !== null && docs[0].vectors) state.query = state.pinned.index;
  readHash();
  render();
  // A live page (attninspect serve) hands new data here: same drawing, new texts.
  window.attninspectPage = {
    load: function (data, pin) {
      DATA = data;
      docs = DATA.documents.map(prepare);
      Object.assign(state, { doc: 0, layer: DATA.initial.layer, pinned: pin === undefined ? initialPin(DATA) : pin,
        hover: null, modelKey: null, query: null, sel: DATA.initial.head === "mean" ? "mean" : [DATA.initial.head] });
      render();
    },
    // The layer and head shown (model numbers; several heads picked: their mean), which a
    // live page asks the server for: the page's controls are the only layer and head controls.
    view: function () {
      const d = docs[state.doc];
      const head = state.sel !== "mean" && state.sel.length === 1 ? d.heads[state.sel[0]] : "mean";
      return { layer: d.layers[state.layer], head: head, kind: d.kind || "self" };
    },
    // What the head view drew last: each head's name, colour and number of lines.
    headView: function () { return headViewDrawn.map((x) => Object.assign({}, x)); },
  };
})();
