"""The human view of `run`: shape summary, coloured T x T matrix, legend and focus list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attninspect.analysis.inspection import Inspection, TokenAxis
from attninspect.analysis.selection import View, window
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable

LABEL_WIDTH = 16
LISTED_TOKENS = 64  # longer texts list only the tokens of the shown window
BAR_WIDTH = 4
BLOCKS = " ▏▎▍▌▋▊▉█"


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _head_label(view: View, num_heads: int) -> str:
    match view.head:
        case "mean":
            return f"mean of {num_heads} heads"
        case "max":
            return f"max over {num_heads} heads"
        case _:
            return f"head {view.head} of {num_heads}"


def axes_label(inspection: Inspection) -> str:
    """What the rows and columns are: ``query (from)`` / ``key (to)`` for self-attention, else
    the text each side holds, e.g. ``rows: target (query) · columns: source (key)``."""
    if inspection.sides is None:
        return "rows: query (from) · columns: key (to)"
    rows, columns = inspection.sides
    return f"rows: {rows} (query) · columns: {columns} (key)"


def _kind_label(inspection: Inspection) -> str:
    if inspection.sides is not None:
        rows, columns = inspection.sides
        return f"{inspection.kind} attention ({rows} → {columns})"
    return "causal (decoder)" if inspection.causal else "bidirectional (encoder)"


def _token_line(text: Text, label: str, axis: TokenAxis, shown: range) -> None:
    """``label (n)`` and the tokens with their positions (long texts: only the ``shown`` ones)."""
    length = len(axis)
    text.append(f"{label} ({length})  ", style="bold")
    listed = range(length) if length <= LISTED_TOKENS else shown
    if listed.start > 0:
        text.append("…  ")
    for index in listed:
        text.append(f"{index}", style="dim")
        text.append(
            f":{printable(axis.tokens[index])}", style="italic dim" if axis.special[index] else ""
        )
        text.append("  ")
    if listed.stop < length:
        text.append("…", style="")
    text.append("\n")


def _token_lines(text: Text, inspection: Inspection, rows: range, columns: range) -> None:
    """One token line for self-attention; one per side (queries, then keys) for other kinds."""
    if inspection.sides is None:
        _token_line(text, "tokens", inspection.query_axis, rows)
        return
    row_side, column_side = inspection.sides
    _token_line(text, f"{row_side} tokens", inspection.query_axis, rows)
    if not inspection.square:
        _token_line(text, f"{column_side} tokens", inspection.keys, columns)


def _marks_line(text: Text, inspection: Inspection) -> None:
    """Which query tokens were generated (``--generate``), where a pair's second text starts."""
    start, length = inspection.pair_start, inspection.prompt_length
    if length is not None:
        last = inspection.query_length - 1
        count = max(last - length + 1, 0)
        text.append(f"generated ({count})  ", style="bold")
        text.append(f"@{length}..@{last}, after a prompt of {length}\n" if count else "none\n")
    if start is not None and start < inspection.query_length:
        text.append("pair  ", style="bold")
        text.append(f"text B starts at @{start} ({printable(inspection.tokens[start])})\n")


def summary(inspection: Inspection, view: View, shown: range, columns: range | None = None) -> Text:
    """Model, engine, tokens with positions, and the shape of every stage.

    Long texts list only the tokens of the shown window (``shown`` rows, ``columns`` keys);
    json lists them all.
    """
    text = Text()
    text.append(printable(inspection.model), style="bold")
    text.append(
        f"  {inspection.engine} {_kind_label(inspection)} · {inspection.device} · "
        f"{inspection.dtype} · {inspection.seconds:.3f} s\n",
        style="dim",
    )
    _token_lines(text, inspection, shown, shown if columns is None else columns)
    _marks_line(text, inspection)
    text.append("shapes  ", style="bold")
    text.append("  ".join(f"{name} {_shape(shape)}" for name, shape in inspection.shapes.items()))
    text.append("\n")
    text.append(_view_title(inspection, view), style="bold")
    text.append(f"   {axes_label(inspection)}", style="dim")
    return text


def _view_title(inspection: Inspection, view: View) -> str:
    layers = inspection.num_layers
    if view.kind == "rollout":
        title = f"rollout up to layer {view.layer} (of 0..{layers - 1}) · head mean, 0.5·A + 0.5·I"
    else:
        title = (
            f"layer {view.layer} (of 0..{layers - 1}) · {_head_label(view, inspection.num_heads)}"
        )
    if view.words:
        title += " · words"
    if view.hidden_special:
        title += " · special tokens hidden, rows renormalised"
    return title


def label_width_for(tokens: list[str]) -> int:
    """Row labels: focus marker, index, space, token; capped at LABEL_WIDTH."""
    index_width = len(str(len(tokens) - 1))
    longest = max(cell_len(printable(token)) for token in tokens)
    return min(LABEL_WIDTH, 2 + index_width + longest)


def fitting_tokens(width: int, cell_width: int, label_width: int) -> int:
    """How many key columns fit beside the row labels in ``width`` cells."""
    return max(1, (width - label_width) // (cell_width + 1))  # each column has a one-cell gap


@dataclass(frozen=True)
class TokenMatrix:
    """A query x key matrix to draw: labels, values and how to print and colour them."""

    tokens: list[str]  # the query tokens (rows)
    special: list[bool]
    matrix: np.ndarray  # (Tq, Tk)
    cell_width: int
    cell_text: Callable[[float], str]
    cell_style: Callable[[float], Style] | None = None  # None: no colour
    focus: int | None = None
    key_tokens: list[str] | None = None  # the columns; None: the query tokens (self-attention)
    key_special: list[bool] | None = None

    @property
    def columns(self) -> tuple[list[str], list[bool]]:
        """The key tokens and which of them are special."""
        if self.key_tokens is None:
            return self.tokens, self.special
        return self.key_tokens, self.key_special or [False] * len(self.key_tokens)


def matrix_table(
    grid: TokenMatrix, shown: range, label_width: int = LABEL_WIDTH, columns: range | None = None
) -> Table:
    """Queries down the side, keys across: only the ``shown`` rows and the ``columns`` keys
    (the ``shown`` positions too when None)."""
    keys = shown if columns is None else columns
    key_tokens, key_special = grid.columns
    # SIMPLE_HEAD draws a one-cell gap between columns and a rule under the header.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True, overflow="ellipsis", width=label_width)
    for key in keys:
        header = Text(
            f"{key}\n{printable(key_tokens[key])}", style="italic" if key_special[key] else ""
        )
        table.add_column(
            header,
            width=grid.cell_width,
            min_width=grid.cell_width,
            no_wrap=True,
            overflow="ellipsis",
            justify="right",
        )
    for query in shown:
        _add_row(table, grid, query, keys)
    return table


def _add_row(table: Table, grid: TokenMatrix, query: int, keys: range) -> None:
    """One query token's label and its weights on the ``keys`` in sight."""
    index_width = len(str(len(grid.tokens) - 1))
    focused = query == grid.focus
    label_style = "bold" if focused else ""
    if grid.special[query]:
        label_style += " italic dim"
    marker = "▶" if focused else " "
    token = printable(grid.tokens[query])
    label = Text(f"{marker}{query:>{index_width}} {token}", style=label_style.strip())
    cells = []
    for key in keys:
        value = float(grid.matrix[query, key])
        style = grid.cell_style(value) if grid.cell_style else ""
        cells.append(Text(grid.cell_text(value), style=style))
    table.add_row(label, *cells, style="bold" if focused else None)


def weight_matrix(inspection: Inspection, view: View, precision: int, color: bool) -> TokenMatrix:
    """The selected (Tq, Tk) attention matrix, coloured from 0 to its largest weight."""
    scale_max = float(view.matrix.max()) if view.matrix.size else 1.0
    return TokenMatrix(
        tokens=inspection.tokens,
        special=inspection.special,
        matrix=view.matrix,
        cell_width=precision + 2,
        cell_text=lambda value: f"{value:.{precision}f}",
        cell_style=(lambda value: weight_style(value, scale_max)) if color else None,
        focus=view.focus,
        key_tokens=None if inspection.square else inspection.key_tokens,
        key_special=None if inspection.square else inspection.keys.special,
    )


HOW_TO_MOVE = "--full shows all, --window N sets the size, --focus TOKEN or @N moves it"


def window_note(
    shown: range, length: int, columns: range | None = None, key_length: int | None = None
) -> Text | None:
    """Say what a windowed matrix leaves out and how to see it (``columns`` of ``key_length``
    keys where they differ from the rows)."""
    if columns is None or key_length is None:
        columns, key_length = shown, length
        where = f"tokens {shown.start}..{shown.stop - 1} of 0..{length - 1}"
    else:
        where = (
            f"rows {shown.start}..{shown.stop - 1} of 0..{length - 1} and "
            f"columns {columns.start}..{columns.stop - 1} of 0..{key_length - 1}"
        )
    rows_out, columns_out = length - len(shown), key_length - len(columns)
    if rows_out <= 0 and columns_out <= 0:
        return None
    return Text(
        f"showing {where} ({rows_out} rows and {columns_out} columns left out); {HOW_TO_MOVE}",
        style="yellow",
    )


def _bar(weight: float) -> str:
    eighths = round(min(max(weight, 0.0), 1.0) * BAR_WIDTH * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(BAR_WIDTH)


def focus_table(inspection: Inspection, view: View) -> Group:
    """Per layer, the top-K keys that the focus token attends to, with small bars."""
    assert view.focus is not None
    top = len(view.focus_top)
    title = (
        f"what {printable(inspection.tokens[view.focus])!s} (@{view.focus}) attends to, "
        f"per layer ({_head_label(view, inspection.num_heads)})"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("layer", justify="right", no_wrap=True, min_width=5)
    for rank in range(top):
        table.add_column(
            f"#{rank + 1}", no_wrap=True, overflow="ellipsis", min_width=BAR_WIDTH + 5, max_width=12
        )
    for layer, ranked in enumerate(view.focus_by_layer):
        cells = []
        for entry in ranked:
            cell = Text(printable(inspection.key_tokens[entry.index]) + "\n")
            cell.append(_bar(entry.weight), style="cyan")
            cell.append(f" {entry.weight:.2f}")
            cells.append(cell)
        style = "bold" if layer == view.layer else None
        table.add_row(("▶" if layer == view.layer else "") + str(layer), *cells, style=style)
    return Group(Text(title, style="bold"), table)


def matrix_windows(
    inspection: Inspection, view: View, width: int, cell_width: int, size: int | None
) -> tuple[range, range]:
    """The query rows and key columns in sight: ``size`` of each (None: as many columns as fit
    ``width``), rows around the focus token, columns around it for self-attention and around
    the key it attends to most for other kinds."""
    fit = fitting_tokens(width, cell_width, label_width_for(inspection.tokens))
    rows = window(inspection.query_length, size or fit, view.focus)
    if inspection.square:
        return rows, rows
    center = view.focus_top[0].index if view.focus_top else None
    return rows, window(inspection.key_length, size or fit, center)


def render_run(
    inspection: Inspection,
    view: View,
    console: Console,
    precision: int = 2,
    window_size: int | None = None,
    full: bool = False,
) -> RenderableType:
    """Everything `run` shows for one text, ready for ``console.print``."""
    color = console.color_system is not None
    size = max(inspection.query_length, inspection.key_length) if full else window_size
    shown, columns = matrix_windows(inspection, view, console.width, precision + 2, size)
    parts: list[RenderableType] = [summary(inspection, view, shown, columns), Text()]
    cells = weight_matrix(inspection, view, precision, color)
    parts.append(matrix_table(cells, shown, label_width_for(inspection.tokens), columns))
    if inspection.square:
        note = window_note(shown, inspection.length)
    else:
        note = window_note(shown, inspection.query_length, columns, inspection.key_length)
    if note is not None:
        parts.append(note)
    return Group(*parts, *_below(inspection, view, color, precision))


def _below(inspection: Inspection, view: View, color: bool, precision: int) -> list[RenderableType]:
    """What follows the matrix: legend, truncation, sink share, head statistics, focus list."""
    parts: list[RenderableType] = []
    rows_note = "max over heads: rows need not sum to 1" if view.head == "max" else ""
    if color:
        parts.append(legend(float(view.matrix.max()), precision, rows_note))
    elif rows_note:
        parts.append(Text(rows_note))
    if inspection.truncated_from is not None:
        parts.append(Text(f"truncated from {inspection.truncated_from} tokens", style="yellow"))
    if view.sink_share is not None:
        parts.append(sink_line(view))
    if view.stats is not None:
        parts += [Text(), stats_table(view)]
    if view.focus is not None:
        parts += [Text(), focus_table(inspection, view)]
    return parts


def sink_line(view: View) -> Text:
    """Per layer, the share of attention that went to special tokens."""
    assert view.sink_share is not None
    text = Text("special-token share per layer  ", style="bold")
    for layer, share in enumerate(view.sink_share):
        style = "bold" if layer == view.layer else "dim"
        text.append(f"{layer}:", style="dim")
        text.append(f"{share:.2f}", style=style)
        text.append("  ")
    if view.hidden_special:
        text.append("(hidden above)", style="dim")
    return text


def stats_table(view: View) -> Group:
    """Per head of the shown layer: row entropy and where attention goes."""
    assert view.stats is not None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("head", justify="right", no_wrap=True)
    table.add_column("entropy (bits)", justify="right", no_wrap=True)
    for name in ("previous", "same", "next", "special"):
        table.add_column(name, justify="left", no_wrap=True)
    for stats in (s for s in view.stats if s.layer == view.layer):
        cells = [stats.previous, stats.same, stats.next, stats.special]
        marks = [_share(value) for value in cells]
        table.add_row(str(stats.head), f"{stats.entropy:.2f}", *marks)
    title = Text(f"head statistics, layer {view.layer} (means over query rows)", style="bold")
    return Group(title, table)


def _share(value: float | None) -> Text:
    """A share with its bar; ``–`` where it has no meaning (positions across two texts)."""
    if value is None:
        return Text("–", style="dim")
    return Text(f"{value:.2f} ") + Text(_bar(value), style="cyan")
