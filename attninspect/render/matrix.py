"""The human view of `run`: shape summary, coloured T x T matrix, legend and focus list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attninspect.analysis.inspection import Inspection, TokenAxis
from attninspect.analysis.matrix_window import MatrixWindow
from attninspect.analysis.selection import View, window
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable

LABEL_WIDTH = 16
HEADER_WIDTH = (
    12  # a key column widens to show its token up to this many cells, where there is room
)
PIPE_ROWS = 64  # in a pipe, rows are not windowed to the columns that fit; up to this many shown
LISTED_TOKENS = 64  # longer texts list only the tokens of the shown window
BAR_WIDTH = 4
BLOCKS = " ▏▎▍▌▋▊▉█"
GAP_MARK = "┆"  # where key columns are left out between two shown ones
GAP_WIDTH = 2  # the mark and the one-cell gap before it


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


def _token_line(text: Text, label: str, axis: TokenAxis, shown: Sequence[int]) -> None:
    """``label (n)`` and the tokens with their positions (long texts: only the ``shown`` ones,
    ``…`` where some are left out)."""
    length = len(axis)
    text.append(f"{label} ({length})  ", style="bold")
    listed = range(length) if length <= LISTED_TOKENS else sorted(shown)
    marked = slots([-1, *listed, length])[1:-1]  # -1 and length: a mark at a left-out end
    for position, index in enumerate(marked):
        if index is None:
            text.append("…" if position == len(marked) - 1 else "…  ")
            continue
        text.append(f"{index}", style="dim")
        text.append(
            f":{printable(axis.tokens[index])}", style="italic dim" if axis.special[index] else ""
        )
        text.append("  ")
    text.append("\n")


def _token_lines(text: Text, inspection: Inspection, rows: range, columns: Sequence[int]) -> None:
    """One token line for self-attention (the rows and columns in sight); one per side (queries,
    then keys) for other kinds."""
    if inspection.sides is None:
        _token_line(text, "tokens", inspection.query_axis, sorted(set(rows) | set(columns)))
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


def summary(
    inspection: Inspection, view: View, shown: range, columns: Sequence[int] | None = None
) -> Text:
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


MEASURE_TITLES = {
    "scores": "scores before the softmax (blank: masked)",
    "norms": "norms ‖αf(x)‖ (Kobayashi et al. 2020)",
}
HEAD_SUM_TITLE = ", head mean ‖Σₕαf(x)‖"  # norms' head mean; no spaces: a wrapped title keeps it


def _view_title(inspection: Inspection, view: View) -> str:
    layers = inspection.num_layers
    if view.kind == "rollout":
        title = f"rollout up to layer {view.layer} (of 0..{layers - 1}) · head mean, 0.5·A + 0.5·I"
    else:
        title = (
            f"layer {view.layer} (of 0..{layers - 1}) · {_head_label(view, inspection.num_heads)}"
        )
    if inspection.measure != "weights":
        title += f" · {MEASURE_TITLES.get(inspection.measure, inspection.measure)}"
        if inspection.measure == "norms" and view.head == "mean":
            title += HEAD_SUM_TITLE
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


def gap_count(columns: Sequence[int]) -> int:
    """How many runs of left-out columns lie between the shown ``columns`` (sorted)."""
    return sum(1 for before, after in pairwise(columns) if after != before + 1)


def columns_width(columns: Sequence[int], cell_width: int) -> int:
    """The cells that ``columns`` take beside the row labels, gap marks included."""
    return len(columns) * (cell_width + 1) + GAP_WIDTH * gap_count(columns)


def slots(columns: Sequence[int]) -> list[int | None]:
    """``columns`` in order with None where a gap mark goes (between non-adjacent columns)."""
    marked: list[int | None] = []
    for position, column in enumerate(columns):
        if position and column != columns[position - 1] + 1:
            marked.append(None)
        marked.append(column)
    return marked


def spans(columns: Sequence[int]) -> str:
    """``0, 2, 5..15``: the shown columns as runs."""
    runs: list[list[int]] = []
    for column in columns:
        if runs and column == runs[-1][-1] + 1:
            runs[-1].append(column)
        else:
            runs.append([column])
    return ", ".join(f"{run[0]}..{run[-1]}" if len(run) > 1 else f"{run[0]}" for run in runs)


def pinned_keys(
    matrix: np.ndarray | MatrixWindow,
    focus: int | None,
    special: Sequence[bool],
    top: int,
    by_size: bool = False,
) -> list[int]:
    """The key columns a window keeps in sight, most important first: the focus row's ``top``
    largest (``by_size``: of a difference matrix, whose signs do not rank; else the largest
    values, so that a scores row keeps its highest logits, not its most negative), then the
    special tokens (the attention sinks), the most attended first; a masked cell (NaN) last.
    ``matrix``: (Tq, Tk), or the `MatrixWindow` of it (weights: never negative)."""
    if isinstance(matrix, MatrixWindow):
        if not matrix.shape[0] or not matrix.shape[1]:
            return []
        weights = np.abs(matrix.row(focus)) if focus is not None else matrix.key_means
    elif not matrix.size:
        return []
    else:
        sized = np.abs(matrix) if by_size else matrix
        found = sized[focus] if focus is not None else np.where(np.isnan(sized), 0, sized).mean(0)
        weights = np.where(np.isnan(found), -np.inf, found)  # (Tk,)
    order = [int(index) for index in np.argsort(-weights, kind="stable")]
    tops = order[:top] if focus is not None else []
    return tops + [index for index in order if special[index] and index not in tops]


def key_columns(
    length: int,
    room: int,
    cell_width: int,
    center: int | None,
    pins: Sequence[int],
    count: int | None = None,
) -> list[int]:
    """The key columns in sight within ``room`` cells (or ``count`` columns, whatever their
    width): a contiguous run around ``center`` plus the ``pins`` outside it (most important
    first, at most half as many as fit), with a gap mark between non-adjacent ones; all
    ``length`` columns when they fit."""
    fit = count or max(1, room // (cell_width + 1))
    if length <= fit:
        return list(range(length))
    for size in range(fit, 0, -1):
        run = window(length, size, center)
        kept = [pin for pin in dict.fromkeys(pins) if pin not in run][: fit // 2]
        chosen = sorted({*run, *kept})
        if len(chosen) <= fit if count else columns_width(chosen, cell_width) <= room:
            return chosen
    return list(window(length, fit, center))


# What the focus row's pinned columns are the largest of, per measure.
KEPT_LARGEST = {"scores": "scores", "norms": "norms"}


def kept_in_sight(focus: int | None, largest: str = "weights") -> str:
    """What a window keeps in sight beyond its run of columns, for the note."""
    if focus is None:
        return "the special tokens"
    return f"the focus row's largest {largest}, then the special tokens"


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
    window: MatrixWindow | None = None  # where only its rows in sight were computed, instead

    @property
    def columns(self) -> tuple[list[str], list[bool]]:
        """The key tokens and which of them are special."""
        if self.key_tokens is None:
            return self.tokens, self.special
        return self.key_tokens, self.key_special or [False] * len(self.key_tokens)


def matrix_table(
    grid: TokenMatrix,
    shown: range,
    label_width: int = LABEL_WIDTH,
    columns: Sequence[int] | None = None,
) -> Table:
    """Queries down the side, keys across: only the ``shown`` rows and the ``columns`` keys
    (the ``shown`` positions too when None), a gap mark where columns are left out between."""
    keys = slots(shown if columns is None else columns)
    key_tokens, key_special = grid.columns
    # SIMPLE_HEAD draws a one-cell gap between columns and a rule under the header.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True, overflow="ellipsis", width=label_width)
    for key in keys:
        if key is None:
            table.add_column(Text(f"{GAP_MARK}\n{GAP_MARK}", style="dim"), width=1, no_wrap=True)
            continue
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


def _add_row(table: Table, grid: TokenMatrix, query: int, keys: list[int | None]) -> None:
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
        if key is None:
            cells.append(Text(GAP_MARK, style="dim"))
            continue
        value = (
            grid.window[query, key] if grid.window is not None else float(grid.matrix[query, key])
        )
        style = grid.cell_style(value) if grid.cell_style else ""
        cells.append(Text(grid.cell_text(value), style=style))
    table.add_row(label, *cells, style="bold" if focused else None)


def scale_of(inspection: Inspection, view: View) -> tuple[float, float]:
    """The colour scale's ends: 0 to the largest weight; for another measure, the smallest to
    the largest value shown (masked scores, NaN, left out)."""
    if view.window is not None:  # only its rows in sight were kept, and its ends
        if np.isnan(view.window.high):
            return 0.0, 1.0
        low = 0.0 if inspection.measure == "weights" else view.window.low
        return low, view.window.high
    finite = view.matrix[np.isfinite(view.matrix)]
    if not finite.size:
        return 0.0, 1.0
    low = 0.0 if inspection.measure == "weights" else float(finite.min())
    return low, float(finite.max())


def cell_width_of(inspection: Inspection, view: View, precision: int) -> int:
    """Characters a cell takes: ``0.12`` for weights; the longest value for another measure."""
    if inspection.measure == "weights":
        return precision + 2
    low, high = scale_of(inspection, view)
    return max(precision + 2, *(len(f"{value:.{precision}f}") for value in (low, high)))


def _cell_text(value: float, precision: int) -> str:
    return "" if np.isnan(value) else f"{value:.{precision}f}"  # a masked score is blank


def weight_matrix(inspection: Inspection, view: View, precision: int, color: bool) -> TokenMatrix:
    """The selected (Tq, Tk) attention matrix, coloured from 0 to its largest weight (another
    measure: from its smallest to its largest value; masked cells blank)."""
    low, high = scale_of(inspection, view)

    def style(value: float) -> Style:
        return Style() if np.isnan(value) else weight_style(value - low, high - low)

    return TokenMatrix(
        tokens=inspection.tokens,
        special=inspection.special,
        matrix=view.matrix,
        cell_width=cell_width_of(inspection, view, precision),
        cell_text=lambda value: _cell_text(value, precision),
        cell_style=style if color else None,
        focus=view.focus,
        key_tokens=None if inspection.square else inspection.key_tokens,
        key_special=None if inspection.square else inspection.keys.special,
        window=view.window,
    )


HOW_TO_MOVE = "--full shows all, --window N sets the size, --focus TOKEN or @N moves it"
HOW_TO_MOVE_WITHOUT_WINDOW = "--full shows all, --focus TOKEN or @N moves it"  # diff: no --window


def window_note(
    shown: range,
    length: int,
    columns: Sequence[int] | None = None,
    key_length: int | None = None,
    kept: str = "",
    how_to_move: str = HOW_TO_MOVE,
) -> Text | None:
    """Say what a windowed matrix leaves out and how to see it (``columns`` of ``key_length``
    keys where they differ from the rows; ``kept``: what stays in sight across the gaps;
    ``how_to_move``: the options of the command that drew it)."""
    keys = list(shown if columns is None else columns)
    key_length = length if key_length is None else key_length
    rows_out, columns_out = length - len(shown), key_length - len(keys)
    if rows_out <= 0 and columns_out <= 0:
        return None
    if keys == list(shown) and key_length == length:
        where = f"tokens {shown.start}..{shown.stop - 1} of 0..{length - 1}"
    else:
        rows = f"rows {shown.start}..{shown.stop - 1} of 0..{length - 1}"
        if rows_out <= 0:
            rows = f"all {length} rows"
        where = f"{rows} and columns {spans(keys)} of 0..{key_length - 1}"
    marks = ""
    if kept and gap_count(keys):
        marks = f"; {GAP_MARK} marks left-out columns; kept in sight: {kept}"
    out = f"{rows_out} rows and {columns_out} columns" if rows_out > 0 else f"{columns_out} columns"
    return Text(f"showing {where} ({out} left out{marks}); {how_to_move}", style="yellow")


def header_width(keys: Sequence[str], cell_width: int, room: int, columns: Sequence[int]) -> int:
    """The cell width that shows the ``keys`` (the tokens of the shown ``columns``) whole, up to
    HEADER_WIDTH, where ``room`` leaves space beyond ``cell_width`` (the number's own width)."""
    if not keys:
        return cell_width
    longest = min(max(cell_len(key) for key in keys), HEADER_WIDTH)
    spare = (room - columns_width(columns, cell_width)) // len(keys)
    return max(cell_width, min(longest, cell_width + spare))


def matrix_blocks(
    grid: TokenMatrix, shown: range, label_width: int, columns: Sequence[int], width: int
) -> list[RenderableType]:
    """The matrix as one table; where its columns are wider than ``width`` (``--full`` in a
    pipe, a large ``--window``), as blocks of consecutive columns one under another, each with
    every shown row, and a line that says so: never cells cut to ``0…``."""
    room = max(width - label_width, grid.cell_width + 1)
    blocks: list[list[int]] = [[]]
    for column in columns:
        if blocks[-1] and columns_width([*blocks[-1], column], grid.cell_width) > room:
            blocks.append([])
        blocks[-1].append(column)
    if len(blocks) == 1:
        return [matrix_table(grid, shown, label_width, columns)]
    parts: list[RenderableType] = [
        Text(
            f"{len(columns)} columns do not fit {width} cells: the matrix in {len(blocks)} "
            "blocks of columns, one under another (--format csv gives one weight a row, --save "
            "FILE.html the whole matrix)",
            style="yellow",
        )
    ]
    for block in blocks:
        parts += [Text(), matrix_table(grid, shown, label_width, block)]
    return parts


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
    if inspection.measure == "norms" and view.head == "mean":
        title = title.replace("(mean of", "(norm of the sum over")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("layer", justify="right", no_wrap=True, min_width=5)
    for rank in range(top):
        table.add_column(
            f"#{rank + 1}", no_wrap=True, overflow="ellipsis", min_width=BAR_WIDTH + 5, max_width=12
        )
    values = [entry.weight for ranked in view.focus_by_layer for entry in ranked]
    # Weights fill a bar at 1; another measure's bars are relative to its largest value here.
    full = 1.0 if inspection.measure == "weights" else max([*values, 0.0]) or 1.0
    for layer, ranked in enumerate(view.focus_by_layer):
        cells = []
        for entry in ranked:
            cell = Text(printable(inspection.key_tokens[entry.index]) + "\n")
            cell.append(_bar(entry.weight / full), style="cyan")
            cell.append(f" {entry.weight:.2f}")
            cells.append(cell)
        style = "bold" if layer == view.layer else None
        table.add_row(("▶" if layer == view.layer else "") + str(layer), *cells, style=style)
    return Group(Text(title, style="bold"), table)


def matrix_windows(
    inspection: Inspection,
    view: View,
    width: int,
    cell_width: int,
    size: int | None,
    rows_in_sight: int | None = None,
) -> tuple[range, list[int]]:
    """The query rows and key columns in sight: ``size`` of each (None: as many columns as fit
    ``width``, and as many rows, or ``rows_in_sight`` when more), rows around the focus token,
    columns around it for self-attention and around the key it attends to most for other
    kinds, plus the focus row's top keys and the special tokens wherever they are
    (`key_columns`)."""
    label_width = label_width_for(inspection.tokens)
    fit = fitting_tokens(width, cell_width, label_width)
    rows = window(inspection.query_length, size or max(fit, rows_in_sight or 0), view.focus)
    center = view.focus if inspection.square else None
    if not inspection.square and view.focus_top:
        center = view.focus_top[0].index
    if view.window is not None:  # only these rows were computed (`rows_in_sight`)
        held = view.window.rows
        rows = range(max(rows.start, held.start), min(rows.stop, held.stop))
    shown = view.window if view.window is not None else view.matrix
    pins = pinned_keys(shown, view.focus, inspection.keys.special, len(view.focus_top))
    room = width - label_width
    return rows, key_columns(inspection.key_length, room, cell_width, center, pins, size)


def rows_in_sight(
    width: int, terminal: bool, precision: int, size: int | None, full: bool
) -> int | None:
    """How many query rows `matrix_windows` can show at most, whatever the tokens, for a table
    of ``width`` cells (None: all of them, ``full``): so that only those rows of the selected
    matrix need computing. A label takes at least no cells and a cell ``precision + 2``."""
    if full:
        return None
    if size:
        return size
    fit = fitting_tokens(width, precision + 2, 0)
    return fit if terminal else max(fit, PIPE_ROWS)


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
    cell_width = cell_width_of(inspection, view, precision)
    rows = None if console.is_terminal else PIPE_ROWS  # a pipe has no height to fit
    shown, columns = matrix_windows(inspection, view, console.width, cell_width, size, rows)
    parts: list[RenderableType] = [summary(inspection, view, shown, columns), Text()]
    label_width = label_width_for(inspection.tokens)
    cells = weight_matrix(inspection, view, precision, color)
    keys = [printable(inspection.key_tokens[column]) for column in columns]
    cell_width = header_width(keys, cells.cell_width, console.width - label_width, columns)
    cells = replace(cells, cell_width=cell_width)
    parts += matrix_blocks(cells, shown, label_width, columns, console.width)
    kept = kept_in_sight(view.focus, KEPT_LARGEST.get(inspection.measure, "weights"))
    note = window_note(shown, inspection.query_length, columns, inspection.key_length, kept)
    if note is not None:
        parts.append(note)
    return Group(*parts, *_below(inspection, view, color, precision))


def _below(inspection: Inspection, view: View, color: bool, precision: int) -> list[RenderableType]:
    """What follows the matrix: legend, truncation, sink share, head statistics, focus list."""
    parts: list[RenderableType] = []
    rows_note = "max over heads: rows need not sum to 1" if view.head == "max" else ""
    if color:
        low, high = scale_of(inspection, view)
        parts.append(legend(high, precision, rows_note, low))
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
