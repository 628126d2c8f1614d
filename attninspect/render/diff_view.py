"""Render the comparison of two texts: difference matrix, alignment and focus changes."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import IO

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.analysis.alignment import Alignment, FocusChange
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import RunView, window
from attninspect.files.records import dump_json, run_record
from attninspect.render.matrix import Grid, fitting_tokens, grid_table, label_width_for, window_note
from attninspect.render.palette import delta_style, diverging_legend
from attninspect.safe_text import printable


@dataclass(frozen=True)
class TextDiff:
    """Two inspections shown the same way, their alignment and their difference."""

    a: Inspection
    b: Inspection
    view_a: RunView
    view_b: RunView
    alignment: Alignment
    paired: np.ndarray  # (P, P): A − B over paired tokens, in A's order
    changes: list[list[FocusChange]] | None

    @property
    def same_length(self) -> bool:
        return self.a.length == self.b.length

    def as_json(self) -> dict[str, object]:
        record: dict[str, object] = {
            "a": run_record(self.a, self.view_a),
            "b": run_record(self.b, self.view_b),
            "delta": self.paired.tolist() if self.same_length else None,
            "alignment": self.alignment.as_json(),
        }
        if self.changes is not None:
            record["focus_changes"] = [
                {"layer": layer, "changes": [change.as_json() for change in changes]}
                for layer, changes in enumerate(self.changes)
            ]
        return record


def _labels(diff: TextDiff) -> list[str]:
    """Paired tokens, written 'a/b' where the two texts differ at that position."""
    labels = []
    for a, b in diff.alignment.pairs:
        token_a, token_b = diff.a.tokens[a], diff.b.tokens[b]
        labels.append(token_a if token_a == token_b else f"{token_a}/{token_b}")
    return labels


def _top_cell(inspection: Inspection, ranked) -> Text:
    return Text(
        "\n".join(f"{printable(inspection.tokens[r.index])} {r.weight:.2f}" for r in ranked)
    )


def _signed(value: float, precision: int) -> str:
    """``+0.05`` / ``-0.05``, and `` 0.00`` for what rounds to zero (no ``-0.00``)."""
    text = f"{value:+.{precision}f}"
    return " " + text[1:] if float(text) == 0 else text


def diff_table(diff: TextDiff, console: Console, precision: int, full: bool) -> Group:
    """Texts, the difference matrix on a diverging scale, unpaired tokens and focus changes."""
    color = console.color_system is not None
    head = diff.view_a.head
    parts: list[RenderableType] = []
    title = Text()
    title.append(printable(diff.a.model), style="bold")
    title.append(f"  {diff.a.engine} · {diff.a.device} · layer {diff.view_a.layer} · ", style="dim")
    title.append(f"{diff.view_a.kind} · head {head}\n", style="dim")
    title.append("A ", style="bold")
    title.append(f"{printable(diff.a.text)}  ({diff.a.length} tokens)\n")
    title.append("B ", style="bold")
    title.append(f"{printable(diff.b.text)}  ({diff.b.length} tokens)")
    parts.append(title)
    if not diff.same_length:
        only_a = " ".join(f"{i}:{printable(diff.a.tokens[i])}" for i in diff.alignment.only_a)
        only_b = " ".join(f"{j}:{printable(diff.b.tokens[j])}" for j in diff.alignment.only_b)
        parts.append(
            Text(
                "the texts have different lengths: tokens are aligned by their longest common "
                f"subsequence; the matrix shows A − B over the {len(diff.alignment.pairs)} paired "
                f"tokens.\nno partner in B: {only_a or '-'}\nno partner in A: {only_b or '-'}",
                style="yellow",
            )
        )
    labels = _labels(diff)
    limit = float(np.abs(diff.paired).max()) if diff.paired.size else 0.0
    focus = None
    if diff.view_a.focus is not None:
        pair_index = {a: p for p, (a, _) in enumerate(diff.alignment.pairs)}
        focus = pair_index.get(diff.view_a.focus)
    grid = Grid(
        tokens=labels,
        special=[diff.a.special[a] for a, _ in diff.alignment.pairs],
        matrix=diff.paired,
        cell_width=precision + 3,
        cell_text=lambda value: _signed(value, precision),
        cell_style=(lambda value: delta_style(value, limit)) if color else None,
        focus=focus,
    )
    if labels:
        label_width = label_width_for(labels)
        size = len(labels) if full else fitting_tokens(console.width, precision + 3, label_width)
        shown = window(len(labels), size, focus)
        parts += [Text("A − B", style="bold"), grid_table(grid, shown, label_width)]
        note = window_note(shown, len(labels))
        if note is not None:
            parts.append(note)
        if color:
            parts.append(diverging_legend(limit, precision))
    if diff.changes is not None:
        parts.append(Text())
        parts.append(focus_comparison(diff))
    return Group(*parts)


def focus_comparison(diff: TextDiff) -> Group:
    """Per layer: what the focus token attends to in A, in B, and the largest changes."""
    assert diff.changes is not None and diff.view_a.focus is not None
    token = printable(diff.a.tokens[diff.view_a.focus])
    title = Text(
        f"what {token} attends to in A (@{diff.view_a.focus}) and B (@{diff.view_b.focus}), "
        "per layer",
        style="bold",
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("layer", justify="right", no_wrap=True)
    table.add_column("A", overflow="fold")
    table.add_column("B", overflow="fold")
    table.add_column("largest changes (A − B)", overflow="fold")
    for layer, changes in enumerate(diff.changes):
        change_text = Text()
        for number, change in enumerate(changes):
            token_b = diff.b.tokens[change.b_index]
            label = change.token if token_b == change.token else f"{change.token}/{token_b}"
            style = "red" if change.delta > 0 else "blue"
            change_text.append(("\n" if number else "") + f"{printable(label)} ")
            change_text.append(_signed(change.delta, 2), style=style)
        table.add_row(
            ("▶" if layer == diff.view_a.layer else "") + str(layer),
            _top_cell(diff.a, diff.view_a.focus_by_layer[layer]),
            _top_cell(diff.b, diff.view_b.focus_by_layer[layer]),
            change_text,
        )
    return Group(title, table)


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


def write_diff(
    diff: TextDiff, output_format: str, console: Console, precision: int, full: bool
) -> None:
    """Table for people; json/jsonl one object; csv one row per paired (query, key)."""
    stream: IO[str] = console.file
    match output_format:
        case "json" | "jsonl":
            stream.write(dump_json(diff.as_json()) + "\n")
        case "csv":
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(DIFF_CSV_COLUMNS)
            layer, head = diff.view_a.layer, diff.view_a.head
            for qa, qb in diff.alignment.pairs:
                for ka, kb in diff.alignment.pairs:
                    weight_a = float(diff.view_a.matrix[qa, ka])
                    weight_b = float(diff.view_b.matrix[qb, kb])
                    writer.writerow(
                        (layer, head, qa, qb, diff.a.tokens[qa], ka, kb, diff.a.tokens[ka],
                         weight_a, weight_b, weight_a - weight_b)
                    )  # fmt: skip
        case _:
            console.print(diff_table(diff, console, precision, full))
    stream.flush()
