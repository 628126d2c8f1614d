"""One self-contained interactive HTML page: head view, model view and matrix.

Pure rendering: numpy arrays and tokens in, a string out. The page loads nothing from anywhere
(its style, script and data are inline, and a Content-Security-Policy forbids any fetch). The
attention is quantised to 8 bits per weight and base64-encoded: 4/3 bytes per weight.

Another measure than weights (scores, norms: `analysis.measures`) is quantised the same way over
each (Tq, Tk) matrix's own range: byte b in 0..254 stands for low + b / 254 · (high - low), with
each matrix's [low, high] in the page's data, and byte 255 for a masked cell (NaN); the page's
script turns the bytes back into values, for its tooltips, colours and line strengths.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from attninspect.analysis.inspection import AXIS_SIDES, Inspection
from attninspect.analysis.neurons import LayerNeurons
from attninspect.analysis.selection import HeadChoice, heads_view

# Inside <script>, "</script" or "<!--" would end or confuse the element: escape every <, > and &,
# and the two line terminators JavaScript once refused inside strings.
SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
PLACEHOLDER = re.compile(r"\{\{(title|style|script|data)\}\}")
LEVELS = 254  # another measure's bytes 0..254 span each matrix's [low, high] ...
MASKED = 255  # ... and this byte is a masked cell


@dataclass
class PageDocument:
    """One text on the page: its query tokens (``tokens``), key tokens (``key_tokens``; None:
    the query tokens, self-attention) and (L, H, Tq, Tk) attention for the listed layers/heads."""

    label: str
    tokens: list[str]
    special: list[bool]
    attention: np.ndarray  # (L, H, Tq, Tk), rows sum to 1
    layers: list[int] = field(default_factory=list)  # model layer number of each L
    heads: list[int] = field(default_factory=list)  # model head number of each H
    key_tokens: list[str] | None = None
    key_special: list[bool] | None = None
    kind: str = "self"  # "self", "encoder", "decoder" or "cross"
    # The page's "mean": every head of the model, as the terminal's. Where ``heads`` leaves some
    # out, ``head_mean`` (L, Tq, Tk) holds that mean and ``model_heads`` counts the heads in it.
    head_mean: np.ndarray | None = None
    model_heads: int | None = None
    rollout: bool = False  # each layer's one matrix is the rollout, not a head
    pair_start: int | None = None  # a sentence pair: the first token of text B
    neurons: LayerNeurons | None = None  # one layer's q and k: the page's neuron view
    # What ``attention`` and ``head_mean`` hold (`analysis.measures`): for norms, ``head_mean``
    # is the norm of the sum over heads, where it is given.
    measure: str = "weights"


def quantise(attention: np.ndarray) -> str:
    """(L, H, Tq, Tk) weights in [0, 1] -> base64 of one byte each (round(w · 255))."""
    levels = np.clip(np.rint(attention.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return base64.b64encode(levels.tobytes(order="C")).decode("ascii")


def quantise_range(values: np.ndarray) -> tuple[str, list[list[float]]]:
    """(..., Tq, Tk) values of another measure than weights -> base64 of one byte each, every
    (Tq, Tk) matrix over its own [low, high] (byte round((v - low) / (high - low) · 254); a
    masked cell, NaN or infinite, byte 255), and each matrix's [low, high], in C order. One
    matrix at a time, so that no float64 copy of the whole is made."""
    rows, columns = values.shape[-2:]
    flat = values.reshape(-1, rows * columns)  # (matrices, Tq · Tk)
    codes = np.empty(flat.shape, dtype=np.uint8)
    scale: list[list[float]] = []
    for number, matrix in enumerate(flat):
        cells = matrix.astype(np.float64)  # (Tq · Tk,)
        present = np.isfinite(cells)
        shown = cells[present]
        low, high = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 0.0)
        span = high - low if high > low else 1.0
        levels = np.rint((np.where(present, cells, low) - low) / span * LEVELS)
        codes[number] = np.where(present, np.clip(levels, 0, LEVELS), MASKED)
        scale.append([low, high])
    return base64.b64encode(codes.tobytes(order="C")).decode("ascii"), scale


def float32_text(array: np.ndarray) -> str:
    """Base64 of the little-endian float32 values of ``array``, C order (NaN stays NaN)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


SCORE_FIT = 1e-4  # the scores are q·k·scale (+ mask) where they differ by less, relative


def neuron_json(found: LayerNeurons) -> dict[str, object]:
    """The page's copy of one layer's vectors: queries (H, Tq, d) and keys (KV, Tk, d) as
    float32, 8 bytes per token and dimension of a head; the scores as the one number that
    scales q·k and the mask ("none" or "causal") where that remakes them, else (a model that
    adds a bias, say) as float32 themselves, (H, Tq, Tk)."""
    heads, rows, size = found.queries.shape
    kv_heads, columns = found.keys.shape[:2]
    data: dict[str, object] = {
        "layer": found.layer,
        "size": size,
        "heads": heads,
        "kv_heads": kv_heads,
        "queries": float32_text(found.queries),
        "keys": float32_text(found.keys),
    }
    keys = np.repeat(found.keys.astype(np.float64), heads // kv_heads, axis=0)  # (H, Tk, d)
    dots = np.einsum("hqd,hkd->hqk", found.queries.astype(np.float64), keys)  # (H, Tq, Tk)
    scores = found.scores.astype(np.float64)
    masked = np.isnan(scores)
    causal = np.triu(np.ones((rows, columns), dtype=bool), 1)  # a key after the query
    mask = "none" if not masked.any() else "causal" if (masked == causal).all() else None
    both = ~masked
    power = float((dots[both] ** 2).sum())
    if mask is not None and power > 0:
        scale = float((scores[both] * dots[both]).sum() / power)
        largest = max(1.0, float(np.abs(scores[both]).max()))
        if float(np.abs(scores[both] - dots[both] * scale).max()) <= SCORE_FIT * largest:
            data.update(scale=scale, mask=mask)
            return data
    data["scores"] = float32_text(found.scores)
    return data


def script_json(value: object) -> str:
    """JSON that is safe inside a <script> element: no character can end or break out of it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(SCRIPT_ESCAPES.get(char, char) for char in text)


def _document_json(document: PageDocument) -> dict[str, object]:
    """The page's copy of a document; key tokens, kind and sides only where they are news. For
    another measure than weights: its bytes, each matrix's [low, high] (``scale``, and
    ``mean_scale`` for the head means) and the measure."""
    layers, heads = document.attention.shape[:2]
    found: dict[str, object] = {
        "label": document.label,
        "tokens": list(document.tokens),
        "special": [bool(s) for s in document.special],
        "layers": document.layers or list(range(layers)),
        "heads": document.heads or list(range(heads)),
    }
    mean_of = document.model_heads or heads
    if document.measure == "weights":
        found.update(weights=quantise(document.attention), mean_of=mean_of)
        if document.head_mean is not None:
            found["mean_weights"] = quantise(document.head_mean)
        return _extras(document, found)
    values, scale = quantise_range(document.attention)
    found.update(measure=document.measure, weights=values, scale=scale, mean_of=mean_of)
    if document.head_mean is not None:
        found["mean_weights"], found["mean_scale"] = quantise_range(document.head_mean)
    return _extras(document, found)


def _extras(document: PageDocument, found: dict[str, object]) -> dict[str, object]:
    """``found`` with what only some documents have: rollout, key tokens, kind and sides where
    they are news, a pair's start and the neuron view's vectors."""
    if document.rollout:
        found["rollout"] = True
    if document.kind != "self" or document.key_tokens is not None:
        keys = document.key_tokens if document.key_tokens is not None else document.tokens
        special = document.key_special if document.key_special is not None else [False] * len(keys)
        found["key_tokens"] = list(keys)
        found["key_special"] = [bool(s) for s in special]
        found["kind"] = document.kind
        found["sides"] = list(AXIS_SIDES.get(document.kind) or ("query", "key"))
    if document.pair_start is not None:
        found["pair_start"] = document.pair_start
    if document.neurons is not None:
        found["neurons"] = neuron_json(document.neurons)
    return found


def initial_state(document: PageDocument, layer: int, head: HeadChoice) -> dict[str, object]:
    """The page's first view as indices into the document's layers and heads (or ``"mean"``)."""
    layers = document.layers or list(range(document.attention.shape[0]))
    heads = document.heads or list(range(document.attention.shape[1]))
    # A layer the page does not hold (``--layers`` left it out) opens the first one it does hold.
    layer_index = layers.index(layer) if layer in layers else 0
    head_index: HeadChoice = heads.index(head) if head in heads else "mean"
    return {"layer": layer_index, "head": head_index}


def _asset(name: str) -> str:
    assets = resources.files("attninspect.render").joinpath("assets")
    return assets.joinpath(name).read_text("utf-8")


def render_page(
    documents: list[PageDocument],
    model: str,
    layer: int = -1,
    head: HeadChoice = "mean",
    note: str = "attention",
    focus: int | None = None,
) -> str:
    """The whole page as one string; ``layer``/``head`` (model numbers) pick the first view and
    ``focus`` (a query index of the first text) is pinned in it, as ``--focus`` marks a picture."""
    first = documents[0]
    if layer < 0:
        layer = (first.layers or list(range(first.attention.shape[0])))[-1]
    initial = initial_state(first, layer, head)
    if focus is not None and 0 <= focus < len(first.tokens):
        initial["focus"] = focus
    data = {
        "model": model,
        "note": note,
        "initial": initial,
        "documents": [_document_json(document) for document in documents],
    }
    parts = {  # the label isolated (FSI … PDI): its bidi controls cannot reorder the title
        "title": html.escape(f"attninspect · \u2068{model}\u2069 · \u2068{first.label}\u2069"),
        "style": _asset("page.css"),
        "script": _asset("page.js"),
        "data": script_json(data),
    }
    return PLACEHOLDER.sub(lambda match: parts[match.group(1)], _asset("page.html"))


def page_data(
    documents: list[PageDocument],
    model: str,
    layer: int = -1,
    head: HeadChoice = "mean",
    note: str = "attention",
) -> dict[str, object]:
    """What `render_page` embeds as the page's data, for a live page that loads new texts
    (`attninspect serve`): the page's script takes it through ``window.attninspectPage.load``."""
    first = documents[0]
    if layer < 0:
        layer = (first.layers or list(range(first.attention.shape[0])))[-1]
    return {
        "model": model,
        "note": note,
        "initial": initial_state(first, layer, head),
        "documents": [_document_json(document) for document in documents],
    }


def document(
    inspection: Inspection,
    label: str | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    rollout: bool = False,
    neurons: LayerNeurons | None = None,
) -> PageDocument:
    """The page's copy of one inspection, narrowed to ``layers`` x ``heads`` when given; its
    "mean" stays the mean of every head, as in the terminal (``rollout``: one matrix a layer;
    ``neurons``: one layer's vectors, for the neuron view of a clicked query)."""
    kept_layers, kept_heads = inspection.layer_ids, inspection.head_ids  # model numbers
    layers = kept_layers if layers is None else list(layers)
    heads = kept_heads if heads is None else list(heads)
    rows = [kept_layers.index(layer) for layer in layers]
    columns = [kept_heads.index(head) for head in heads]
    attention = inspection.attention[rows][:, columns]  # (L', H', Tq, Tk)
    mean, mean_of = _head_mean(inspection, rows, len(heads))
    return PageDocument(
        label=label or inspection.text,
        tokens=list(inspection.tokens),
        special=list(inspection.special),
        attention=attention,
        layers=layers,
        heads=heads,
        key_tokens=None if inspection.square else list(inspection.key_tokens),
        key_special=None if inspection.square else list(inspection.keys.special),
        kind=inspection.kind,
        head_mean=mean,
        model_heads=mean_of,
        rollout=rollout,
        pair_start=inspection.pair_start,
        neurons=neurons,
        measure=inspection.measure,
    )


def _head_mean(
    inspection: Inspection, rows: list[int], shown: int
) -> tuple[np.ndarray | None, int]:
    """(L', Tq, Tk): every head's mean of the kept layers ``rows``, where the page shows fewer
    heads than the model has (None where it shows them all: the page averages them itself),
    and how many heads the page's mean averages. The norms' head mean is the norm of the sum
    over heads (``head_sum``), never a mean the page could make of the heads' norms."""
    every = inspection.num_heads
    if inspection.measure == "norms" and inspection.head_sum is not None:
        return inspection.head_sum[rows], every
    if shown == every:
        return None, every
    if inspection.head_mean is not None:  # the run kept fewer heads: it kept their mean too
        return inspection.head_mean[rows], every
    if inspection.attention.shape[1] == every:  # every head is at hand
        return heads_view(inspection.attention[rows], "mean"), every
    return None, shown  # only the shown heads are at hand: the page's mean is theirs, and says so
