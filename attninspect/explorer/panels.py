"""What the explorer draws, as rich Text: the windowed matrix, tokens, focus panel, model view.

Plain rich (no Textual), built line by line so that a key press redraws in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text

from attninspect.analysis.inspection import Inspection, TokenAxis
from attninspect.analysis.selection import View
from attninspect.render.grid import (
    GAP,
    HeadPanel,
    grid_panels,
    layout,
    panel_lines,
    panel_size,
)
from attninspect.render.matrix import (
    GAP_MARK,
    HEAD_SUM_TITLE,
    KEPT_LARGEST,
    MEASURE_TITLES,
    cell_width_of,
    columns_width,
    gap_count,
    kept_in_sight,
    key_columns,
    label_width_for,
    scale_of,
    slots,
    spans,
)
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable

CELL = 4  # "0.30"; another measure than weights: its longest value (`cell_width`)
HEADER_LINES = 3  # key indices, key tokens, rule
LEVELS = 255  # colour steps between 0 and the largest weight
SHORT_SIDES = {"target": "tgt", "source": "src"}


@lru_cache(maxsize=LEVELS + 1)
def cell_style(level: int):
    """`run`'s cell colour at ``level`` / LEVELS of the scale (cached: redraws paint hundreds)."""
    return weight_style(level / LEVELS, 1.0)


@dataclass(frozen=True)
class MatrixWindow:
    """Which query rows and key columns the matrix shows: as many as fit each way."""

    start: int  # first query row
    size: int  # query rows
    label_width: int
    keys: tuple[int, ...] = ()  # the key columns in sight, in order (gaps where not adjacent)
    cell: int = CELL  # characters a value takes

    @property
    def shown(self) -> range:
        """The query rows in sight."""
        return range(self.start, self.start + self.size)

    @property
    def columns(self) -> int:
        """How many key columns are in sight."""
        return len(self.keys)

    def row_at(self, y: int) -> int | None:
        """The query token drawn on line ``y`` of the matrix, if any."""
        row = self.start + y - HEADER_LINES
        return row if y >= HEADER_LINES and row in self.shown else None


def fit_window(
    tokens: list[str],
    width: int,
    height: int,
    start: int,
    keep: int | None,
    keys: tuple[int, int | None] | None = None,
    pins: Sequence[int] = (),
    corner: int = 0,
    cell: int = CELL,
) -> MatrixWindow:
    """As many query rows and key columns as fit ``width`` x ``height``, each way on its own:
    rows from ``start``, moved just enough to keep row ``keep`` in sight; columns from 0, or,
    when not all fit, a run centred on ``keep`` for self-attention and on the second of
    ``keys`` (how many key tokens there are, and which to centre on) where the keys are other
    tokens, plus the ``pins`` wherever they are (`render.matrix.key_columns`). The row labels
    are at least ``corner`` cells wide (the axes' names above them); a value takes ``cell``."""
    length = len(tokens)
    key_length, key_keep = keys if keys is not None else (length, keep)
    label_width = max(label_width_for(tokens), corner)
    size = max(1, min(length, height - HEADER_LINES))
    if keep is not None:
        start = min(start, keep) if keep < start + size else keep - size + 1
    start = min(max(start, 0), length - size)
    columns = key_columns(key_length, width - label_width, cell, key_keep, pins)
    return MatrixWindow(start, size, label_width, tuple(columns), cell)


def cell_width(shown: Inspection, view: View) -> int:
    """Characters a value takes: ``0.30`` for weights; for scores or norms, as `run`'s table
    gives them (their longest value, ``-12.34``)."""
    return CELL if shown.measure == "weights" else cell_width_of(shown, view, 2)


def fit_cells(text: str, width: int) -> str:
    """``text`` padded or cut (with an ellipsis) to exactly ``width`` cells."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…" if width > 0 else ""


class Lines:
    """Text built as one string and a list of spans: a redraw appends thousands of cells, and
    `Text.append` (which sanitises each piece) is the slow part. Pieces must be printable."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, piece: str, style: str | Style = "") -> None:
        if style:
            self.spans.append(Span(self.length, self.length + len(piece), style))
        self.parts.append(piece)
        self.length += len(piece)

    def text(self) -> Text:
        return Text("".join(self.parts), spans=self.spans, no_wrap=True, overflow="crop")


class Segments:
    """Lines of rich Segments for Textual's line API: no markup, wrapping or style parsing on
    the way to the screen (a key press redraws hundreds of cells). Pieces must be printable."""

    def __init__(self) -> None:
        self.lines: list[list[Segment]] = [[]]

    def add(self, piece: str, style: str | Style = "") -> None:
        self.lines[-1].append(Segment(piece, _style(style) if isinstance(style, str) else style))

    def newline(self) -> None:
        self.lines.append([])

    @property
    def plain(self) -> str:
        return "\n".join("".join(segment.text for segment in line) for line in self.lines)


@lru_cache(maxsize=64)
def _style(name: str) -> Style | None:
    return Style.parse(name) if name else Style.null()  # never None: filters read .color


def corner_text(shown: Inspection) -> str:
    """The axes' names above the row labels: ``from↓ to→``, or the sides (``tgt↓src→``)."""
    if shown.sides is None:
        return "from↓ to→"
    rows, columns = (SHORT_SIDES.get(side, side) for side in shown.sides)
    return f"{rows}↓{columns}→"


def matrix_segments(
    shown: Inspection, view: View, window: MatrixWindow, cursor: int | None, color: bool
) -> Segments:
    """Queries down the side, keys across, each weight coloured on viridis from 0 to the max
    (scores and norms: from their smallest to their largest value, as `run`'s table colours
    them; a masked score blank)."""
    tokens = [printable(token) for token in shown.tokens]
    keys = shown.keys
    scale = scale_of(shown, view)  # view.matrix: (Tq, Tk)
    cell = window.cell
    marked = slots(window.keys)  # None: a gap mark
    lines = Segments()
    lines.add(" " * window.label_width)
    lines.add(
        "".join(f" {GAP_MARK}" if key is None else f" {key:>{cell}}" for key in marked), "dim"
    )
    lines.newline()
    lines.add(fit_cells(corner_text(shown), window.label_width), "dim")
    for key in marked:
        lines.add(" ")
        if key is None:
            lines.add(GAP_MARK, "dim")
            continue
        lines.add(
            fit_cells(printable(keys.tokens[key]), cell), "italic" if keys.special[key] else ""
        )
    lines.newline()
    lines.add("─" * (window.label_width + columns_width(window.keys, cell)))
    for query in window.shown:
        lines.newline()
        _matrix_row(lines, shown, view, window, query, cursor, tokens, scale, color)
    return lines


def _matrix_row(lines, shown, view, window, query, cursor, tokens, scale, color) -> None:
    marker = "▶" if query == view.focus else " "
    style = "reverse" if query == cursor else ("bold" if query == view.focus else "")
    if shown.special[query]:
        style += " italic"
    digits = len(str(len(tokens) - 1))
    label = f"{marker}{query:>{digits}} {tokens[query]}"
    lines.add(fit_cells(label, window.label_width), style.strip())
    row = view.matrix[query]
    low, high = scale
    weights = shown.measure == "weights"
    for key in slots(window.keys):
        if key is None:
            lines.add(" ")
            lines.add(GAP_MARK, "dim")
            continue
        value = float(row[key])
        lines.add(" ")
        if value != value:  # a masked score: blank
            lines.add(" " * window.cell)
            continue
        level = round(LEVELS * (value - low) / (high - low)) if high > low else 0
        text = f"{value:.2f}"[-CELL:] if weights else f"{value:.2f}".rjust(window.cell)
        lines.add(text, cell_style(level) if color else "")


def matrix_note(
    view: View,
    window: MatrixWindow,
    length: int,
    key_length: int | None = None,
    shown: Inspection | None = None,
) -> Text:
    """The colour scale, what max over heads means (or, for ``shown``'s scores or norms, what
    the values are), and which query rows and key columns are in sight (of ``length`` and
    ``key_length``)."""
    rows = "max over heads: rows need not sum to 1" if view.head == "max" else ""
    low, high = 0.0, float(view.matrix.max()) if view.matrix.size else 1.0
    if shown is not None and shown.measure != "weights":
        low, high = scale_of(shown, view)
        rows = MEASURE_TITLES.get(shown.measure, shown.measure)
        if shown.measure == "norms" and view.head == "mean":
            rows += HEAD_SUM_TITLE
    note = legend(high, 2, rows, low=low)
    key_length = length if key_length is None else key_length
    if window.size < length or window.columns < key_length:
        in_rows = window.shown
        span = f"columns {spans(window.keys)}"
        if key_length == length:
            where = f"{span} of 0..{length - 1}"
        else:
            where = f"{span}; {length} rows × {key_length} columns"
        marks = ""
        if gap_count(window.keys):
            largest = KEPT_LARGEST.get(shown.measure, "weights") if shown else "weights"
            marks = f" ({GAP_MARK}: left out; kept in sight: {kept_in_sight(view.focus, largest)})"
        note.append(
            f"\nin sight: rows {in_rows.start}..{in_rows.stop - 1}, {where}{marks}; "
            "j/k move the row cursor, PgUp/PgDn or the mouse wheel scroll",
            style="yellow",
        )
    return note


def tokens_text(shown: Inspection, window: MatrixWindow) -> Text:
    """The sentence's tokens with their positions; those in the matrix window are bright. Where
    the keys are other tokens (cross attention), the query tokens, then the key tokens."""
    lines = Lines()
    if shown.square:
        in_sight = set(window.shown) | set(window.keys)
        _token_run(lines, f"tokens ({shown.length})  ", shown.query_axis, in_sight)
    else:
        rows, columns = shown.sides or ("query", "key")
        _token_run(lines, f"{rows} ({shown.query_length})  ", shown.query_axis, set(window.shown))
        lines.add("\n")
        _token_run(lines, f"{columns} ({shown.key_length})  ", shown.keys, set(window.keys))
    text = lines.text()
    text.no_wrap, text.overflow = False, "fold"
    return text


def _token_run(lines: Lines, title: str, axis: TokenAxis, in_sight: set[int]) -> None:
    lines.add(title, "bold")
    for index, token in enumerate(axis.tokens):
        style = "" if index in in_sight else "dim"
        if axis.special[index]:
            style += " italic"
        lines.add(f"{index}:", "dim")
        lines.add(printable(token), style.strip())
        lines.add("  ")


FOCUS_ENTRY = 22  # "token      0.12    "


def focus_text(shown: Inspection, view: View, width: int = 120) -> Text:
    """Per layer, the top-K tokens that the focus token attends to (selected heads), as many
    as fit ``width``."""
    if view.focus is None:
        return Text(
            "no focus token: move the row cursor with j/k and press Enter, or click a row",
            style="dim",
        )
    token = printable(shown.tokens[view.focus])
    head = "rollout" if view.kind == "rollout" else f"head {view.head}"
    lines = Segments()
    lines.add(f"what {token} (@{view.focus}) attends to, per layer ({head}), largest first", "bold")
    for layer, ranked in enumerate(view.focus_by_layer):
        current = layer == view.layer
        lines.newline()
        lines.add(f"{'▶' if current else ' '}{layer:>3}  ", "bold" if current else "")
        for entry in ranked[: max(1, (width - 6) // FOCUS_ENTRY)]:
            lines.add(fit_cells(printable(shown.key_tokens[entry.index]), 10) + " ")
            lines.add(f"{entry.weight:.2f}", "bold cyan")
            lines.add("    ")
    return Text(lines.plain, spans=_spans(lines), no_wrap=True, overflow="crop")


def _spans(lines: Segments) -> list[Span]:
    """The styles of ``lines`` as spans over its plain text."""
    spans, offset = [], 0
    for line in lines.lines:
        for segment in line:
            if segment.style:
                spans.append(Span(offset, offset + len(segment.text), segment.style))
            offset += len(segment.text)
        offset += 1  # the newline
    return spans


@dataclass(frozen=True)
class GridLayout:
    """Where each layer x head panel of `render.grid.layout` lies: panels in reading order
    (layer by layer), ``per_row`` to a band, bands one blank line apart."""

    size: int  # cells per panel side, as `attninspect grid` chooses it
    width: int  # columns of one panel
    height: int  # lines of one panel (label, heatmap, sink share)
    per_row: int
    layers: int
    heads: int

    def panel_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The (layer, head) drawn at column ``x``, line ``y``; None in a gap."""
        column, across = divmod(x, self.width + GAP)
        band, down = divmod(y, self.height + 1)
        if across >= self.width or down >= self.height or column >= self.per_row:
            return None
        index = band * self.per_row + column
        return divmod(index, self.heads) if index < self.layers * self.heads else None

    def origin(self, layer: int, head: int) -> tuple[int, int]:
        """The (x, y) of the top-left corner of a panel."""
        band, column = divmod(layer * self.heads + head, self.per_row)
        return column * (self.width + GAP), band * (self.height + 1)


def grid_layout(bands: list[list[HeadPanel]], length: int, width: int) -> GridLayout:
    """The geometry `render.grid.layout` gives ``bands`` (one band of heads per layer);
    ``length``: the longer side of a matrix, as `attninspect grid` sizes its panels."""
    size = panel_size(length, width)
    lines = panel_lines(bands[0][0], size, True)
    panel_width = max(line.cell_len for line in lines)
    per_row = max(1, (width + GAP) // (panel_width + GAP))
    return GridLayout(size, panel_width, len(lines), per_row, len(bands), len(bands[0]))


def model_panels(attention: np.ndarray, special: list[bool]) -> list[list[HeadPanel]]:
    """Every layer x head of (L, H, Tq, Tk), as `attninspect grid` draws them (no mean panel);
    ``special`` marks the keys."""
    layers, heads = attention.shape[:2]
    return grid_panels(attention, list(range(layers)), list(range(heads)), special, mean=False)


def grid_text(
    bands: list[list[HeadPanel]], geometry: GridLayout, selected: tuple[int, int]
) -> Text:
    """The panels laid out as `attninspect grid` does, the selected panel's label reversed."""
    lines = layout(bands, geometry.width * geometry.per_row + GAP * (geometry.per_row - 1),
                   geometry.size, True)  # fmt: skip
    x, y = geometry.origin(*selected)
    lines[y].stylize("reverse", x, x + geometry.width)
    return Text("\n").join(lines)
