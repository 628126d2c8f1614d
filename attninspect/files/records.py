"""Machine formats: JSON, JSON Lines, CSV and NPZ, built from an Inspection and its view."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import Ranked, RunView
from attninspect.safe_text import ESCAPED_CATEGORIES

CSV_COLUMNS = (
    "text_index",
    "line",
    "layer",
    "head",
    "query_index",
    "query_token",
    "key_index",
    "key_token",
    "weight",
)


def _ranked(inspection: Inspection, entries: list[Ranked]) -> list[dict[str, Any]]:
    return [
        {"token": inspection.tokens[e.index], "index": e.index, "weight": e.weight} for e in entries
    ]


def run_record(inspection: Inspection, view: RunView, all_layers: bool = False) -> dict[str, Any]:
    """The JSON object of the command-line contract for one text."""
    record: dict[str, Any] = {
        "text": inspection.text,
        "text_index": inspection.index,
        "model": inspection.model,
        "engine": inspection.engine,
        "device": inspection.device,
        "dtype": inspection.dtype,
        "causal": inspection.causal,
        "tokens": inspection.tokens,
        "special": inspection.special,
        "shapes": inspection.shapes,
        "layer": view.layer,
        "head": view.head,
        "view": view.kind,
        "words": view.words,
        "hide_special": view.hidden_special,
        "attention": view.matrix.tolist(),
        "sink_share": view.sink_share,
    }
    if view.stats is not None:
        record["stats"] = [stats.as_json() for stats in view.stats]
    if inspection.line is not None:
        record["line"] = inspection.line
    if inspection.truncated_from is not None:
        record["truncated_from"] = inspection.truncated_from
    if view.focus is not None:
        record["focus"] = {
            "token": inspection.tokens[view.focus],
            "index": view.focus,
            "top": _ranked(inspection, view.focus_top),
            "layers": [
                {"layer": layer, "top": _ranked(inspection, ranked)}
                for layer, ranked in enumerate(view.focus_by_layer)
            ],
        }
    if all_layers:
        record["all_attention"] = inspection.attention.tolist()
    record["seconds"] = round(inspection.seconds, 6)
    return record


def dump_json(record: Any) -> str:
    """One line of JSON: readable non-ASCII text, but every invisible or control character escaped.

    Besides what JSON requires (below U+0020), C1 controls, bidi and other format characters and
    the line separators U+2028/U+2029/U+0085 (which some readers split lines on) become \\uXXXX,
    so the output is terminal-safe and one record per line, and parses back to the exact text.
    """
    return UNSAFE_IN_JSON.sub(_json_escape, json.dumps(record, ensure_ascii=False, allow_nan=False))


def _json_escape(match: re.Match[str]) -> str:
    return json.dumps(match.group(0))[1:-1]  # \uXXXX, or a surrogate pair above U+FFFF


UNSAFE_IN_JSON = re.compile(
    "["
    + "".join(
        re.escape(chr(code))
        for code in range(0x7F, 0x10000)
        if unicodedata.category(chr(code)) in ESCAPED_CATEGORIES - {"Cs"}
    )
    + "\\U000e0000-\\U000e007f\\U000f0000-\\U0010ffff]"
)


def csv_rows(inspection: Inspection, view: RunView, all_layers: bool = False):
    """Tidy long rows, one per (layer, head, query, key)."""
    tokens = inspection.tokens
    if all_layers:
        blocks = [
            (layer, head, inspection.attention[layer, head])
            for layer in range(inspection.num_layers)
            for head in range(inspection.num_heads)
        ]
    else:
        blocks = [(view.layer, view.head, view.matrix)]
    for layer, head, matrix in blocks:
        for query, row in enumerate(matrix.tolist()):
            query_token = tokens[query]
            for key, weight in enumerate(row):
                yield (
                    *_where(inspection),
                    layer,
                    head,
                    query,
                    query_token,
                    key,
                    tokens[key],
                    weight,
                )


def _where(inspection: Inspection) -> tuple[int, int | str]:
    """``text_index`` and ``line`` (the input line; empty for a TEXT argument)."""
    return inspection.index, inspection.line if inspection.line is not None else ""


STATS_COLUMNS = (
    "text_index",
    "line",
    "layer",
    "head",
    "entropy",
    "previous",
    "same",
    "next",
    "special",
)


def stats_rows(inspection: Inspection, view: RunView):
    """One row per head of every layer, with --stats."""
    for stats in view.stats or []:
        yield (*_where(inspection), *(getattr(stats, name) for name in STATS_COLUMNS[2:]))


def npz_arrays(inspections: list[Inspection]) -> dict[str, np.ndarray]:
    """One layout for any number N of texts: `texts` (N strings) and, for i in 0..N-1,
    `tokens_i` (strings) and `attention_i` (float32, [L, H, T, T])."""
    arrays: dict[str, np.ndarray] = {
        "texts": np.array([inspection.text for inspection in inspections], dtype=np.str_)
    }
    for number, inspection in enumerate(inspections):
        arrays[f"tokens_{number}"] = np.array(inspection.tokens, dtype=np.str_)
        arrays[f"attention_{number}"] = inspection.attention.astype(np.float32, copy=False)
    return arrays
