"use strict";
// attninspect serve: the live controls. Requests go to this page's own origin only; every
// piece of user text (and of the server's answers) reaches the page through textContent.
(function () {
  const SETTINGS = JSON.parse(document.getElementById("live-settings").textContent);
  const $ = (id) => document.getElementById(id);
  const status = $("live-status"), result = $("live-result");
  let busy = 0, generation = 0;
  // What a cell holds, where it is not the attention weight (the terminal's words).
  const MEASURES = {
    scores: "scores before the softmax (blank: masked)",
    norms: "norms ‖α f(x)‖ (Kobayashi et al. 2020)",
  };
  const TABLE_TOKENS = 64;  // the measured table shows at most this many rows and columns

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  function node(tag, text, attrs) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  function viewFields() {
    const fields = {
      text: $("text").value,
      words: $("opt-words").checked,
      hide_special: $("opt-hide-special").checked,
      rollout: $("opt-rollout").checked,
    };
    const view = window.attninspectPage.view();  // the page's own layer and head controls
    const asked = askFields();
    // another kind of attention has layers and heads of its own: ask for its defaults
    if (asked.attention === undefined || asked.attention === view.kind) {
      fields.layer = view.layer;
      fields.head = view.head;
    }
    const focus = $("opt-focus").value;
    if (focus.trim() !== "") fields.focus = focus;
    const measure = $("opt-measure").value;
    if (measure !== "weights") fields.measure = measure;  // weights: asked as before
    return Object.assign(fields, asked);
  }

  // What a run asks besides its text, where this model can be asked it: an encoder-decoder
  // model's target, a decoder's generated tokens, and the attention kind.
  function askFields() {
    const fields = {};
    if (!$("ask-target").hidden && $("opt-target").value.trim() !== "") {
      fields.target = $("opt-target").value;
    }
    const generate = $("opt-generate").value.trim();
    if (!$("ask-generate").hidden && generate !== "" && fields.target === undefined) {
      fields.generate = /^\d+$/.test(generate) ? Number(generate) : generate;
    }
    if (!$("ask-attention").hidden && $("opt-attention").value !== "") {
      fields.attention = $("opt-attention").value;
    }
    return fields;
  }

  function askControls() {
    const kinds = SETTINGS.kinds || ["self"];
    $("ask-target").hidden = !kinds.includes("cross");
    $("ask-generate").hidden = !SETTINGS.generates;
    $("ask-attention").hidden = kinds.length < 2;
    const select = $("opt-attention");
    select.append(node("option", "default (" + kinds[kinds.length - 1] + ")", { value: "" }));
    for (const kind of kinds) select.append(node("option", kind, { value: kind }));
  }

  // POST JSON to this server; the answer's JSON, or an Error carrying the server's message.
  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    let answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (!response.ok) {
      throw new Error((answer && answer.error) || "the server answered " + response.status);
    }
    return answer;
  }

  // Run one request; only the newest request's answer is shown.
  async function task(label, work) {
    const mine = ++generation;
    busy++;
    document.body.setAttribute("data-busy", String(busy));
    say(label + " …");
    try {
      const shown = await work(() => mine === generation);
      if (mine === generation) say(shown);
    } catch (error) {
      if (mine === generation) say("Error: " + error.message, true);
    } finally {
      busy--;
      document.body.setAttribute("data-busy", String(busy));
    }
  }

  function inspect() {
    return task("inspecting", async (current) => {
      const answer = await post("/api/page", viewFields());
      if (!current()) return "";
      const record = answer.record, pin = record.focus ? { side: "from", index: record.focus.index } : null;
      window.attninspectPage.load(answer.page, pin);
      result.replaceChildren();
      const measure = record.measure || "weights";
      if (record.focus) {
        const by = measure === "weights" ? " attends to:" : ", largest " + measure + ":";
        result.append(node("p", "focus " + record.focus.token + " (@" + record.focus.index + ")" + by));
        const list = node("ol");
        for (const entry of record.focus.top) {
          list.append(node("li", entry.token + " (@" + entry.index + ") " + entry.weight.toFixed(3)));
        }
        result.append(list);
      }
      if (measure !== "weights") result.append(measuredTable(record, measure));
      document.body.setAttribute("data-text", record.text);
      document.body.setAttribute("data-measure", measure);
      return record.tokens.length + " tokens · " + record.model +
        (measure === "weights" ? "" : " · " + measure);
    });
  }

  function searchHeads() {
    return task("searching heads", async (current) => {
      const body = Object.assign({ text: $("text").value, from: $("heads-from").value,
        to: $("heads-to").value, words: $("opt-words").checked }, askFields());
      const answer = await post("/api/heads", body);
      if (!current()) return "";
      result.replaceChildren(node("p", "heads by the weight " + answer.from.token + " (@" +
        answer.from.index + ") gives " + answer.to.token + " (@" + answer.to.index + "):"));
      const list = node("ol", undefined, { id: "heads-result" });
      for (const score of answer.heads.slice(0, 10)) {
        const link = node("a", "layer " + score.layer + " head " + score.head + ": " +
          score.weight.toFixed(3), { href: "#layer=" + score.layer + "&head=" + score.head });
        const item = node("li");
        item.append(link);
        list.append(item);
      }
      result.append(list);
      return "best: layer " + answer.heads[0].layer + " head " + answer.heads[0].head;
    });
  }

  function diff() {
    return task("comparing", async (current) => {
      const fields = viewFields();
      fields.a = fields.text;
      delete fields.text;
      fields.b = $("diff-b").value;
      const answer = await post("/api/page/diff", fields);
      if (!current()) return "";
      answer.page.note = "A and B, each its own attention (the text menu); A − B below";
      window.attninspectPage.load(answer.page, null);
      const record = answer.record;
      result.replaceChildren(node("p", "A − B: " + record.alignment.pairs.length + " paired tokens, " +
        record.alignment.only_a.length + " only in A, " + record.alignment.only_b.length + " only in B"));
      result.append(deltaTable(record));
      const list = node("ol", undefined, { id: "diff-result" });
      for (const cell of answer.largest) {
        list.append(node("li", cell.query + " → " + cell.key + ": " + (cell.delta >= 0 ? "+" : "") +
          cell.delta.toFixed(3)));
      }
      result.append(list);
      return "diff shown: pick A or B in the text menu";
    });
  }

  // The view's matrix as the measure measures it: one cell a number, shaded from the smallest
  // to the largest value; a masked score (null) is a blank cell.
  function measuredTable(record, measure) {
    const rows = record.attention, keys = record.key_tokens || record.tokens;
    const shown = Math.min(rows.length, TABLE_TOKENS), columns = Math.min(keys.length, TABLE_TOKENS);
    let low = Infinity, high = -Infinity;
    for (const row of rows) for (const value of row) {
      if (value !== null) { low = Math.min(low, value); high = Math.max(high, value); }
    }
    const head = "head " + record.head + (record.head === "mean" && measure === "norms" ? " (‖Σ_h α f(x)‖)" : "");
    const table = node("table", undefined, { id: "measured", class: "measured", "data-measure": measure });
    let caption = MEASURES[measure] + ", layer " + record.layer + " · " + head;
    if (shown < rows.length || columns < keys.length) {
      caption += " (the first " + shown + " rows and " + columns + " columns)";
    }
    table.append(node("caption", caption));
    const top = node("tr");
    top.append(node("th", "from ↓ to →"));
    for (const key of keys.slice(0, columns)) top.append(node("th", key, { scope: "col" }));
    table.append(top);
    for (let r = 0; r < shown; r++) {
      const tr = node("tr");
      tr.append(node("th", record.tokens[r], { scope: "row" }));
      for (let c = 0; c < columns; c++) {
        const value = rows[r][c];
        if (value === null) {
          tr.append(node("td", "", { "data-masked": "true" }));
          continue;
        }
        const td = node("td", value.toFixed(2), { "data-value": String(value) });
        const share = high > low ? (value - low) / (high - low) : 0;
        const tint = Math.round(255 * (1 - 0.7 * share));
        td.style.background = "rgb(" + tint + "," + tint + ",255)";
        tr.append(td);
      }
      table.append(tr);
    }
    return table;
  }

  // A − B over the paired tokens as a table: red where A attends more, blue where B does.
  function deltaTable(record) {
    const label = (pair, a, b) => a[pair[0]] === b[pair[1]] ? a[pair[0]] : a[pair[0]] + "/" + b[pair[1]];
    const rows = record.alignment.pairs, keys = (record.key_alignment || record.alignment).pairs;
    const keysA = record.a.key_tokens || record.a.tokens, keysB = record.b.key_tokens || record.b.tokens;
    let limit = 0;
    for (const row of record.delta) for (const value of row) limit = Math.max(limit, Math.abs(value));
    const table = node("table", undefined, { id: "diff-matrix", class: "delta" });
    table.append(node("caption", "A − B, layer " + record.a.layer + " · head " + record.a.head +
      ": red where A attends more, blue where B does (largest " + limit.toFixed(3) + ")"));
    const head = node("tr");
    head.append(node("th", "from ↓ to →"));
    for (const pair of keys) head.append(node("th", label(pair, keysA, keysB), { scope: "col" }));
    table.append(head);
    record.delta.forEach((values, r) => {
      const tr = node("tr");
      tr.append(node("th", label(rows[r], record.a.tokens, record.b.tokens), { scope: "row" }));
      for (const value of values) {
        const td = node("td", (value > 0 ? "+" : "") + value.toFixed(2));
        const share = limit > 0 ? Math.min(Math.abs(value) / limit, 1) : 0;
        const tint = Math.round(255 * (1 - share));
        td.style.background = value > 0 ? "rgb(255," + tint + "," + tint + ")" : "rgb(" + tint + "," + tint + ",255)";
        td.dataset.delta = String(value);
        tr.append(td);
      }
      table.append(tr);
    });
    return table;
  }

  function submit(form, action) {
    $(form).addEventListener("submit", (event) => { event.preventDefault(); action(); });
  }
  askControls();
  submit("live-form", inspect);
  submit("heads-form", searchHeads);
  submit("diff-form", diff);
  $("text").value = SETTINGS.text;
  $("text").maxLength = SETTINGS.max_text_bytes;
  document.body.setAttribute("data-busy", "0");
})();
