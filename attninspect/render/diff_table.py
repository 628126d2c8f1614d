"""Render the comparison of two texts: difference matrix, alignment and focus changes (of weights,
or of scores, blank where either text masks the cell, or norms)."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import window
from attninspect.render.matrix import (
    HEAD_SUM_TITLE,
    HOW_TO_MOVE_WITHOUT_WINDOW,
    MEASURE_TITLES,
    TokenMatrix,
    fitting_tokens,
    kept_in_sight,
    key_columns,
    label_width_for,
    matrix_blocks,
    pinned_keys,
    window_note,
)
from attninspect.render.palette import delta_style, diverging_legend
from attninspect.safe_text import printable

CHANGED_COLUMNS = 3  # without a focus, the key columns with the largest changes kept in sight


def _labels(pairs: list[tuple[int, int]], tokens_a: list[str], tokens_b: list[str]) -> list[str]:
    """Paired tokens, written 'a/b' where the two texts differ at that position."""
    labels = []
    for a, b in pairs:
        token_a, token_b = tokens_a[a], tokens_b[b]
        labels.append(token_a if token_a == token_b else f"{token_a}/{token_b}")
    return labels


def _top_cell(inspection: Inspection, ranked) -> Text:
    """The keys the focus token attends to most, one a line."""
    return Text(
        "\n".join(f"{printable(inspection.key_tokens[r.index])} {r.weight:.2f}" for r in ranked)
    )


def _signed(value: float, precision: int) -> str:
    """``+0.05`` / ``-0.05``, and `` 0.00`` for what rounds to zero (no ``-0.00``); blank for a
    cell with no value (a masked score, NaN)."""
    if value != value:
        return ""
    text = f"{value:+.{precision}f}"
    return " " + text[1:] if float(text) == 0 else text


def diff_table(
    diff: TextDiff,
    console: Console,
    precision: int,
    full: bool,
    how_to_move: str = HOW_TO_MOVE_WITHOUT_WINDOW,
) -> Group:
    """Texts, the difference matrix on a diverging scale, unpaired tokens and focus changes;
    ``how_to_move``: how to see what a window leaves out, in the words of what drew it."""
    parts: list[RenderableType] = [_title(diff)]
    if not diff.same_length:
        parts.append(_alignment_note(diff))
    parts += _delta_matrix(diff, console, precision, full, how_to_move)
    if diff.changes is not None:
        parts.append(Text())
        parts.append(focus_comparison(diff))
    return Group(*parts)


def _title(diff: TextDiff) -> Text:
    title = Text()
    title.append(printable(diff.a.model), style="bold")
    title.append(f"  {diff.a.engine} · {diff.a.device} · layer {diff.view_a.layer} · ", style="dim")
    title.append(f"{diff.view_a.kind} · head {diff.view_a.head}", style="dim")
    measure = diff.a.measure
    if measure != "weights":
        title.append(f" · {MEASURE_TITLES.get(measure, measure)}", style="dim")
        if measure == "norms" and diff.view_a.head == "mean":
            title.append(HEAD_SUM_TITLE, style="dim")
    title.append("\n")
    for side, (name, shown) in enumerate((("A", diff.a), ("B", diff.b))):
        title.append(f"{name} ", style="bold")
        title.append(f"{printable(diff.shown_text(side))}  ({_token_count(shown)})")
        title.append("\n" if name == "A" else "")
    return title


def _token_count(shown: Inspection) -> str:
    """``12 tokens``; for an encoder–decoder kind, whose tokens: ``5 target × 11 source``."""
    if shown.sides is None:
        return f"{shown.length} tokens"
    rows, columns = shown.sides
    if rows == columns:
        return f"{shown.query_length} {rows} tokens"
    return f"{shown.query_length} {rows} × {shown.key_length} {columns} tokens"


def _alignment_note(diff: TextDiff) -> Text:
    only_a = " ".join(f"{i}:{printable(diff.a.tokens[i])}" for i in diff.alignment.only_a)
    only_b = " ".join(f"{j}:{printable(diff.b.tokens[j])}" for j in diff.alignment.only_b)
    note = Text(
        "the texts have different lengths: tokens are aligned by their longest common "
        f"subsequence; the matrix shows A − B over the {len(diff.alignment.pairs)} paired "
        f"tokens.\nno partner in B: {only_a or '-'}\nno partner in A: {only_b or '-'}",
        style="yellow",
    )
    keys = diff.key_alignment
    if keys is not None:
        keys_a = " ".join(f"{i}:{printable(diff.a.key_tokens[i])}" for i in keys.only_a)
        keys_b = " ".join(f"{j}:{printable(diff.b.key_tokens[j])}" for j in keys.only_b)
        note.append(
            f"\nkey tokens: {len(keys.pairs)} paired; no partner in B: {keys_a or '-'}; "
            f"no partner in A: {keys_b or '-'}"
        )
    return note


def _largest(paired: np.ndarray) -> float:
    """The largest change in size (0 with none; a masked score, NaN, left out)."""
    return float(_sizes(paired).max()) if paired.size else 0.0


def _sizes(matrix: np.ndarray) -> np.ndarray:
    """|matrix|, a cell with no value (NaN) as no change."""
    return np.nan_to_num(np.abs(matrix), nan=0.0)


def _delta_grid(diff: TextDiff, precision: int, color: bool) -> TokenMatrix:
    """A − B over the paired query rows and paired key columns, on a scale centred at 0."""
    rows, keys = diff.alignment.pairs, diff.keys.pairs
    limit = _largest(diff.paired)

    def style(value: float) -> Style:
        return Style() if value != value else delta_style(value, limit)

    focus = None
    if diff.view_a.focus is not None:
        focus = {a: p for p, (a, _) in enumerate(rows)}.get(diff.view_a.focus)
    square = diff.key_alignment is None
    width = precision + 3  # "+0.05"; scores and norms: their longest change ("-12.34")
    if diff.a.measure != "weights" and diff.paired.size:
        width = max(width, *(len(_signed(float(v), precision)) for v in (limit, -limit)))
    return TokenMatrix(
        tokens=_labels(rows, diff.a.tokens, diff.b.tokens),
        special=[diff.a.special[a] for a, _ in rows],
        matrix=diff.paired,  # (P, Pk)
        cell_width=width,
        cell_text=lambda value: _signed(value, precision),
        cell_style=style if color else None,
        focus=focus,
        key_tokens=None if square else _labels(keys, diff.a.key_tokens, diff.b.key_tokens),
        key_special=None if square else [diff.a.keys.special[a] for a, _ in keys],
    )


def _differing(diff: TextDiff) -> tuple[list[int], list[int]]:
    """The paired rows, and paired key columns, whose tokens differ between A and B."""
    rows = [
        p for p, (a, b) in enumerate(diff.alignment.pairs) if diff.a.tokens[a] != diff.b.tokens[b]
    ]
    if diff.key_alignment is None:
        return rows, rows
    keys = diff.key_alignment.pairs
    columns = [p for p, (a, b) in enumerate(keys) if diff.a.key_tokens[a] != diff.b.key_tokens[b]]
    return rows, columns


def _most_changed_row(grid: TokenMatrix, changed: list[int]) -> int | None:
    """Where a window without a focus centres: the first row whose tokens differ, else the row
    with the largest change."""
    if changed:
        return changed[0]
    if not grid.matrix.size:
        return None
    return int(_sizes(grid.matrix).max(axis=1).argmax())  # (P, Pk) -> P


def _changed_columns(grid: TokenMatrix, changed: list[int], special: list[bool]) -> list[int]:
    """Key columns to keep in sight, most important first: those whose tokens differ, the
    CHANGED_COLUMNS with the largest change, then the special tokens."""
    if not grid.matrix.size:
        return []
    largest = _sizes(grid.matrix).max(axis=0)  # (Pk,): each column's largest change
    order = [int(column) for column in np.argsort(-largest, kind="stable")]
    pins = list(dict.fromkeys([*changed, *order[:CHANGED_COLUMNS]]))
    return pins + [column for column in order if special[column] and column not in pins]


def _delta_matrix(
    diff: TextDiff,
    console: Console,
    precision: int,
    full: bool,
    how_to_move: str = HOW_TO_MOVE_WITHOUT_WINDOW,
) -> list[RenderableType]:
    """A − B over the paired tokens, windowed like `run`'s matrix, with its legend."""
    color = console.color_system is not None
    grid = _delta_grid(diff, precision, color)
    if not grid.tokens:
        return []
    key_labels, key_special = grid.columns
    label_width = label_width_for(grid.tokens)
    most = max(len(grid.tokens), len(key_labels))
    size = most if full else fitting_tokens(console.width, grid.cell_width, label_width)
    changed_rows, changed_keys = _differing(diff)
    row_center = grid.focus if grid.focus is not None else _most_changed_row(grid, changed_rows)
    shown = window(len(grid.tokens), size, row_center)
    room = console.width - label_width
    if grid.focus is not None:  # the focus row's largest changes, and the special tokens
        pins = pinned_keys(grid.matrix, grid.focus, key_special, len(diff.view_a.focus_top), True)
        center = grid.focus if grid.key_tokens is None else None
    else:  # the tokens that differ, the largest changes, and the special tokens
        pins = _changed_columns(grid, changed_keys, key_special)
        center = row_center if grid.key_tokens is None else (pins[0] if pins else None)
    count = most if full else None
    columns = key_columns(len(key_labels), room, grid.cell_width, center, pins, count)
    parts: list[RenderableType] = [Text("A − B", style="bold")]
    parts += matrix_blocks(grid, shown, label_width, columns, console.width)
    kept = kept_in_sight(grid.focus, "changes")
    if grid.focus is None:
        kept = "the tokens that differ, the largest changes, then the special tokens"
    note = window_note(shown, len(grid.tokens), columns, len(key_labels), kept, how_to_move)
    if note is not None:
        parts.append(note)
    if color:
        parts.append(diverging_legend(_largest(diff.paired), precision))
    return parts


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
            token_b = diff.b.key_tokens[change.b_index]
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
