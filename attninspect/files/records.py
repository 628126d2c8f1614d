"""Machine formats: the JSON objects, CSV rows and NPZ arrays of every command's result."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.head_ranking import HeadSearch
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import HeadChoice, Ranked, View
from attninspect.files.weights_json import weights_json
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
    "attention_kind",
)


def _ranked(inspection: Inspection, entries: list[Ranked]) -> list[dict[str, Any]]:
    """A top-K list of key tokens (what the focus token attends to)."""
    keys = inspection.key_tokens
    return [{"token": keys[e.index], "index": e.index, "weight": e.weight} for e in entries]


def run_record(
    inspection: Inspection, view: View, all_layers: bool = False, arrays: bool = False
) -> dict[str, Any]:
    """The JSON object of the command-line contract for one text. With ``arrays``, the weights
    stay numpy arrays, for `dump_json` to write without a Python float per weight."""
    record: dict[str, Any] = {
        "text": inspection.input_text,
        "text_index": inspection.index,
        "model": inspection.model,
        "engine": inspection.engine,
        "device": inspection.device,
        "dtype": inspection.dtype,
        "causal": inspection.causal,
        "tokens": inspection.tokens,
        "special": inspection.special,
        **_axes(inspection),
        "shapes": inspection.shapes,
        "layer": view.layer,
        "head": view.head,
        "view": view.kind,
        "words": view.words,
        "hide_special": view.hidden_special,
        "attention": _values(view.matrix, arrays),
        "sink_share": view.sink_share,
    }
    if inspection.measure != "weights":  # weights records stay as they were
        record["measure"] = inspection.measure
    if view.stats is not None:
        record["stats"] = [stats.as_json() for stats in view.stats]
    record.update(_marks(inspection))
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
        record.update(_all_attention(inspection, arrays))
    record["seconds"] = round(inspection.seconds, 6)
    return record


def _values(matrix: np.ndarray, arrays: bool) -> Any:
    """A matrix for JSON: the array itself (``arrays``) or its lists; a cell with no value (a
    masked score, NaN) is null."""
    missing = np.isnan(matrix)
    if not missing.any():
        return matrix if arrays else matrix.tolist()
    listed = matrix.astype(object)
    listed[missing] = None
    return listed.tolist()


def _axes(inspection: Inspection) -> dict[str, Any]:
    """Which attention this is and its two token axes (``tokens`` are the query tokens); for
    the kinds of an encoder–decoder model, the keys' special flags and each side's tokens."""
    found: dict[str, Any] = {
        "attention_kind": inspection.kind,
        "query_tokens": inspection.query_tokens,
        "key_tokens": inspection.key_tokens,
    }
    if inspection.sides is not None:
        found["key_special"] = inspection.keys.special
        found.update(
            {f"{side}_tokens": tokens for side, tokens in inspection.side_tokens().items()}
        )
    return found


def _marks(inspection: Inspection) -> dict[str, Any]:
    """The input line, truncation, an encoder–decoder model's target text, a generation's new
    tokens and prompt length, where a pair's second text starts: only the fields that apply."""
    found: dict[str, Any] = {}
    if inspection.line is not None:
        found["line"] = inspection.line
    if inspection.truncated_from is not None:
        found["truncated_from"] = inspection.truncated_from
    if inspection.target_text is not None:
        found["target_text"] = inspection.target_text
    if inspection.generated is not None:
        found["generated"] = inspection.generated
        found["prompt_length"] = inspection.prompt_length
    if inspection.pair_start is not None:
        found["pair_start"] = inspection.pair_start
    return found


def _all_attention(inspection: Inspection, arrays: bool = False) -> dict[str, Any]:
    """Every kept layer and head; with --layers / --heads, which ones they are."""
    weights = inspection.attention
    found: dict[str, Any] = {"all_attention": _values(weights, arrays)}
    if inspection.layers is not None or head_labels(inspection) == ["mean"]:
        found["all_attention_layers"] = inspection.layer_ids
        found["all_attention_heads"] = head_labels(inspection)
    summed = inspection.head_sum if inspection.measure == "norms" else None
    mean = summed if summed is not None else inspection.head_mean  # (L', Tq, Tk)
    if mean is not None and inspection.heads is not None:  # the mean of heads left out
        found["all_attention_mean"] = _values(mean, arrays)
    return found


def head_labels(inspection: Inspection) -> list[HeadChoice]:
    """The model's head number of each head of ``attention``; ``["mean"]`` where it holds, for
    norms and the head mean, the norm of the sum over heads (`measures.norm_of_sum`) alone."""
    one_of_many = inspection.attention.shape[1] == 1 and inspection.num_heads > 1
    one_kept = inspection.heads is not None and len(inspection.heads) == 1  # --heads N
    summed = inspection.measure == "norms" and one_of_many and not one_kept
    return ["mean"] if summed else list(inspection.head_ids)


def dump_json(record: Any) -> str:
    """One line of JSON: readable non-ASCII text, but every invisible or control character escaped.

    Besides what JSON requires (below U+0020), C1 controls, bidi and other format characters and
    the line separators U+2028/U+2029/U+0085 (which some readers split lines on) become \\uXXXX,
    so the output is terminal-safe and one record per line, and parses back to the exact text.
    """
    text = _json_text(record)
    if text.isascii() and "\x7f" not in text:  # nothing to escape: skip building the table
        return text
    return unsafe_in_json().sub(_json_escape, text)


def _json_text(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False)``, where numpy arrays (at the top
    or as values of a top-level object) are written as their lists would be, by `weights_json`."""
    if isinstance(value, np.ndarray):
        return weights_json(value)
    if (
        isinstance(value, dict)
        and all(isinstance(key, str) for key in value)
        and any(isinstance(item, np.ndarray) for item in value.values())
    ):
        return _object_with_arrays(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_listed)


def _object_with_arrays(record: dict[str, Any]) -> str:
    """A top-level object whose arrays `weights_json` writes: the items between two arrays go
    through one `json.dumps` (its text between the braces), in the record's order."""
    parts: list[str] = []
    plain: dict[str, Any] = {}
    for key, item in record.items():
        if not isinstance(item, np.ndarray):
            plain[key] = item
            continue
        if plain:
            parts.append(_json_text(plain)[1:-1])
            plain = {}
        parts.append(f"{_json_text(key)}: {weights_json(item)}")
    if plain:
        parts.append(_json_text(plain)[1:-1])
    return "{" + ", ".join(parts) + "}"


def _listed(value: Any) -> Any:
    """What `json.dumps` writes for a numpy array deeper in a record: its list."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_escape(match: re.Match[str]) -> str:
    return json.dumps(match.group(0))[1:-1]  # \uXXXX, or a surrogate pair above U+FFFF


@functools.cache
def unsafe_in_json() -> re.Pattern[str]:
    """The characters that `dump_json` escapes, built once, on the first non-ASCII output (it
    scans the Unicode database: ~55 ms that an ASCII-only run never pays)."""
    return re.compile(
        "["
        + "".join(
            re.escape(chr(code))
            for code in range(0x7F, 0x10000)
            if unicodedata.category(chr(code)) in ESCAPED_CATEGORIES - {"Cs"}
        )
        + "\\U000e0000-\\U000e007f\\U000f0000-\\U0010ffff]"
    )


def csv_rows(inspection: Inspection, view: View, all_layers: bool = False):
    """Tidy long rows, one per (layer, head, query, key)."""
    tokens, keys = inspection.query_tokens, inspection.key_tokens
    if all_layers:
        blocks: list[tuple[int, HeadChoice, np.ndarray]] = [
            (layer, head, inspection.attention[i, j])
            for i, layer in enumerate(inspection.layer_ids)
            for j, head in enumerate(head_labels(inspection))
        ]
    else:
        blocks = [(view.layer, view.head, view.matrix)]
    pair = _pair(inspection) + _measure(inspection)
    for layer, head, matrix in blocks:  # (Tq, Tk) each
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
                    keys[key],
                    "" if weight != weight else weight,  # a masked score (NaN) is blank
                    inspection.kind,
                    *pair,
                )


def _measure(inspection: Inspection) -> tuple[str, ...]:
    """The ``measure`` column's value, where it is not weights; else nothing."""
    return (inspection.measure,) * (inspection.measure != "weights")


def _pair(inspection: Inspection) -> tuple[int, ...]:
    """A sentence pair's last CSV column, ``pair_start`` (text B's first token); else nothing."""
    return () if inspection.pair_start is None else (inspection.pair_start,)


def csv_columns(inspection: Inspection, stats: bool = False) -> tuple[str, ...]:
    """`run`'s CSV header: a sentence pair (--pair) adds ``pair_start`` at the end, and another
    measure than weights ``measure`` after it (the ``weight`` column then holds that measure)."""
    columns: tuple[str, ...] = STATS_COLUMNS if stats else CSV_COLUMNS
    columns += ("pair_start",) * (inspection.pair_start is not None)
    return columns + ("measure",) * (inspection.measure != "weights")


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


def stats_rows(inspection: Inspection, view: View):
    """One row per head of every layer, with --stats."""
    for stats in view.stats or []:
        values = (getattr(stats, name) for name in STATS_COLUMNS[2:])
        yield (*_where(inspection), *values, *_pair(inspection))


def npz_arrays(inspections: list[Inspection]) -> dict[str, np.ndarray]:
    """One layout for any number N of texts: `texts` (N strings) and, for i in 0..N-1,
    `tokens_i` (the query tokens) and `attention_i` (float32, [L, H, Tq, Tk]); for the kinds of
    an encoder–decoder model also `key_tokens_i`, `source_tokens_i`, `target_tokens_i` and each
    kind's `<kind>_attention_i`; for a sentence pair `pair_start_i` (text B's first token)."""
    arrays: dict[str, np.ndarray] = {
        "texts": np.array([inspection.input_text for inspection in inspections], dtype=np.str_)
    }
    measures = {inspection.measure for inspection in inspections}
    if measures - {"weights"}:  # what attention_i holds, where not weights (NaN: masked)
        arrays["measure"] = np.array(sorted(measures)[0], dtype=np.str_)
    for number, inspection in enumerate(inspections):
        arrays[f"tokens_{number}"] = np.array(inspection.tokens, dtype=np.str_)
        arrays[f"attention_{number}"] = inspection.attention.astype(np.float32, copy=False)
        arrays.update(_narrowed(inspection, f"_{number}"))
        arrays.update(_kinds(inspection, f"_{number}"))
        if inspection.pair_start is not None:
            arrays[f"pair_start_{number}"] = np.array(inspection.pair_start, dtype=np.int64)
    return arrays


def _kinds(inspection: Inspection, suffix: str) -> dict[str, np.ndarray]:
    """The key tokens, each side's tokens and every kind's [L, H, Tq, Tk] attention; nothing
    for self-attention."""
    if inspection.sides is None:
        return {}
    arrays = {f"key_tokens{suffix}": np.array(inspection.key_tokens, dtype=np.str_)}
    for side, tokens in inspection.side_tokens().items():
        arrays[f"{side}_tokens{suffix}"] = np.array(tokens, dtype=np.str_)
    for kind in inspection.kinds:
        attention = inspection.of_kind(kind).attention  # (L, H, Tq, Tk)
        arrays[f"{kind}_attention{suffix}"] = attention.astype(np.float32, copy=False)
    return arrays


def _narrowed(inspection: Inspection, suffix: str) -> dict[str, np.ndarray]:
    """With --layers / --heads: which model layers and heads the attention array holds (and
    with norms and the head mean, which holds the norm of the sum over heads: heads ["mean"])."""
    if inspection.layers is None and head_labels(inspection) != ["mean"]:
        return {}
    return {
        f"layers{suffix}": np.array(inspection.layer_ids, dtype=np.int64),
        f"heads{suffix}": np.array(head_labels(inspection)),  # int64, or ["mean"]
    }


def diff_record(diff: TextDiff) -> dict[str, Any]:
    """The JSON object of `diff`: both texts as `run` shows them, A − B and the alignment (and
    the measure compared, where not weights; a masked score's delta is null)."""
    record: dict[str, Any] = {
        "a": {**run_record(diff.a, diff.view_a), "text": diff.shown_text(0)},
        "b": {**run_record(diff.b, diff.view_b), "text": diff.shown_text(1)},
        "delta": _values(diff.paired, False) if diff.same_length else None,
        "alignment": diff.alignment.as_json(),
    }
    if diff.a.measure != "weights":
        record["measure"] = diff.a.measure
    if diff.changes is not None:
        record["focus_changes"] = [
            {"layer": layer, "changes": [change.as_json() for change in changes]}
            for layer, changes in enumerate(diff.changes)
        ]
    return record


DIFF_CSV_COLUMNS = (
    "layer",
    "head",
    "a_query_index",
    "b_query_index",
    "query_token",
    "a_key_index",
    "b_key_index",
    "key_token",
    "weight_a",
    "weight_b",
    "delta",
)


def diff_rows(diff: TextDiff) -> Iterator[tuple]:
    """One row per paired (query, key): both weights and their difference (another measure:
    its values, a masked score blank, and the measure's name in a last column)."""
    layer, head = diff.view_a.layer, diff.view_a.head
    queries, keys = diff.a.query_tokens, diff.a.key_tokens
    named = _measure_column(diff.a.measure)
    for qa, qb in diff.alignment.pairs:
        for ka, kb in diff.keys.pairs:
            weight_a = float(diff.view_a.matrix[qa, ka])
            weight_b = float(diff.view_b.matrix[qb, kb])
            values = (_cell(weight_a), _cell(weight_b), _cell(weight_a - weight_b))
            yield (layer, head, qa, qb, queries[qa], ka, kb, keys[ka], *values, *named)


def _cell(value: float) -> float | str:
    """A CSV cell: the number, or blank for a cell with no value (a masked score, NaN)."""
    return "" if value != value else value


def _measure_column(measure: str) -> tuple[str, ...]:
    """The last CSV column of `heads` and `diff`: the measure, where not weights."""
    return () if measure == "weights" else (measure,)


HEADS_CSV_COLUMNS = ("rank", "layer", "head", "from_index", "to_index", "weight")


def heads_rows(search: HeadSearch) -> Iterator[tuple]:
    """One row per head, largest weight first (another measure: its values, masked heads blank
    and last, and the measure's name in a last column)."""
    named = _measure_column(search.measure)
    for rank, score in enumerate(search.scores, start=1):
        yield (rank, score.layer, score.head, search.source, search.target, _cell(score.weight),
               *named)  # fmt: skip


@dataclass(frozen=True)
class RunResult:
    """One text of `run` as the writers see it."""

    inspection: Inspection
    view: View
    all_layers: bool = False
    stats: bool = False

    @property
    def csv_columns(self) -> tuple[str, ...]:
        return csv_columns(self.inspection, self.stats)

    def record(self) -> dict[str, Any]:
        return run_record(self.inspection, self.view, self.all_layers, arrays=True)

    def rows(self) -> Iterable[tuple]:
        if self.stats:
            return stats_rows(self.inspection, self.view)
        return csv_rows(self.inspection, self.view, self.all_layers)


@dataclass(frozen=True)
class HeadsResult:
    """The ranking of `heads` as the writers see it."""

    search: HeadSearch

    @property
    def csv_columns(self) -> tuple[str, ...]:
        return HEADS_CSV_COLUMNS + ("measure",) * (self.search.measure != "weights")

    def record(self) -> dict[str, Any]:
        return self.search.as_json()

    def rows(self) -> Iterable[tuple]:
        return heads_rows(self.search)


@dataclass(frozen=True)
class DiffResult:
    """The comparison of `diff` as the writers see it."""

    diff: TextDiff

    @property
    def csv_columns(self) -> tuple[str, ...]:
        return DIFF_CSV_COLUMNS + ("measure",) * (self.diff.a.measure != "weights")

    def record(self) -> dict[str, Any]:
        return diff_record(self.diff)

    def rows(self) -> Iterable[tuple]:
        return diff_rows(self.diff)


@dataclass(frozen=True)
class PlainRecord:
    """Any JSON object (`shapes`), with the stage names and shapes as CSV rows."""

    data: dict[str, Any]
    csv_columns: tuple[str, ...] = ("name", "value")

    def record(self) -> dict[str, Any]:
        return self.data

    def rows(self) -> Iterable[tuple]:
        for name, value in self.data.items():
            yield (name, json.dumps(value) if isinstance(value, list) else value)


BYTES_PER_VALUE = {"json": 20, "jsonl": 20, "csv": 60, "npz": 4, "table": 0}


def output_bytes(inspection: Inspection, view: View, output_format: str, all_layers: bool) -> int:
    """About how many bytes one text of `run` adds to its output (npz: before compression)."""
    values = view.matrix.size + (inspection.attention.size if all_layers else 0)
    if output_format == "npz":
        values = inspection.attention.size
    return values * BYTES_PER_VALUE.get(output_format, 20)
