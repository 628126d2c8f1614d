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

from attninspect.analysis.inspection import Inspection
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


def summary(inspection: Inspection, view: View, shown: range) -> Text:
    """Model, engine, tokens with positions, and the shape of every stage.

    Long texts list only the tokens of the shown window; json lists them all.
    """
    kind = "causal (decoder)" if inspection.causal else "bidirectional (encoder)"
    text = Text()
    text.append(printable(inspection.model), style="bold")
    text.append(
        f"  {inspection.engine} {kind} · {inspection.device} · {inspection.dtype} · "
        f"{inspection.seconds:.3f} s\n",
        style="dim",
    )
    text.append(f"tokens ({len(inspection.tokens)})  ", style="bold")
    listed = range(inspection.length) if inspection.length <= LISTED_TOKENS else shown
    if listed.start > 0:
        text.append("…  ")
    for index in listed:
        token = inspection.tokens[index]
        text.append(f"{index}", style="dim")
        text.append(f":{printable(token)}", style="italic dim" if inspection.special[index] else "")
        text.append("  ")
    if listed.stop < inspection.length:
        text.append("…", style="")
    text.append("\n")
    text.append("shapes  ", style="bold")
    text.append("  ".join(f"{name} {_shape(shape)}" for name, shape in inspection.shapes.items()))
    text.append("\n")
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
    text.append(title, style="bold")
    text.append("   rows: query (from) · columns: key (to)", style="dim")
    return text


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
    """A square token x token matrix to draw: labels, values and how to print and colour them."""

    tokens: list[str]
    special: list[bool]
    matrix: np.ndarray  # (T, T)
    cell_width: int
    cell_text: Callable[[float], str]
    cell_style: Callable[[float], Style] | None = None  # None: no colour
    focus: int | None = None


def matrix_table(grid: TokenMatrix, shown: range, label_width: int = LABEL_WIDTH) -> Table:
    """Queries down the side, keys across, only the ``shown`` positions."""
    tokens = [printable(token) for token in grid.tokens]
    index_width = len(str(len(tokens) - 1))
    # SIMPLE_HEAD draws a one-cell gap between columns and a rule under the header.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True, overflow="ellipsis", width=label_width)
    for key in shown:
        header = Text(f"{key}\n{tokens[key]}", style="italic" if grid.special[key] else "")
        table.add_column(
            header,
            width=grid.cell_width,
            min_width=grid.cell_width,
            no_wrap=True,
            overflow="ellipsis",
            justify="right",
        )
    for query in shown:
        focused = query == grid.focus
        label_style = "bold" if focused else ""
        if grid.special[query]:
            label_style += " italic dim"
        marker = "▶" if focused else " "
        label = Text(f"{marker}{query:>{index_width}} {tokens[query]}", style=label_style.strip())
        cells = []
        for key in shown:
            value = float(grid.matrix[query, key])
            style = grid.cell_style(value) if grid.cell_style else ""
            cells.append(Text(grid.cell_text(value), style=style))
        table.add_row(label, *cells, style="bold" if focused else None)
    return table


def weight_matrix(inspection: Inspection, view: View, precision: int, color: bool) -> TokenMatrix:
    """The selected attention matrix, coloured from 0 to its largest weight."""
    scale_max = float(view.matrix.max()) if view.matrix.size else 1.0
    return TokenMatrix(
        tokens=inspection.tokens,
        special=inspection.special,
        matrix=view.matrix,
        cell_width=precision + 2,
        cell_text=lambda value: f"{value:.{precision}f}",
        cell_style=(lambda value: weight_style(value, scale_max)) if color else None,
        focus=view.focus,
    )


def window_note(shown: range, length: int) -> Text | None:
    """Say what a windowed matrix leaves out and how to see it."""
    hidden = length - len(shown)
    if hidden <= 0:
        return None
    return Text(
        f"showing tokens {shown.start}..{shown.stop - 1} of 0..{length - 1} "
        f"({hidden} rows and {hidden} columns left out); "
        "--full shows all, --window N sets the size, --focus TOKEN or @N moves it",
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
            cell = Text(printable(inspection.tokens[entry.index]) + "\n")
            cell.append(_bar(entry.weight), style="cyan")
            cell.append(f" {entry.weight:.2f}")
            cells.append(cell)
        style = "bold" if layer == view.layer else None
        table.add_row(("▶" if layer == view.layer else "") + str(layer), *cells, style=style)
    return Group(Text(title, style="bold"), table)


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
    length = inspection.length
    label_width = label_width_for(inspection.tokens)
    size = (
        length if full else window_size or fitting_tokens(console.width, precision + 2, label_width)
    )
    shown = window(length, size, view.focus)
    parts: list[RenderableType] = [summary(inspection, view, shown), Text()]
    cells = weight_matrix(inspection, view, precision, color)
    parts.append(matrix_table(cells, shown, label_width))
    note = window_note(shown, length)
    if note is not None:
        parts.append(note)
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
        parts.append(Text())
        parts.append(stats_table(view))
    if view.focus is not None:
        parts.append(Text())
        parts.append(focus_table(inspection, view))
    return Group(*parts)


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
        marks = [Text(f"{value:.2f} ") + Text(_bar(value), style="cyan") for value in cells]
        table.add_row(str(stats.head), f"{stats.entropy:.2f}", *marks)
    title = Text(f"head statistics, layer {view.layer} (means over query rows)", style="bold")
    return Group(title, table)
