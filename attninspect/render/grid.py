"""The model view in a terminal: every layer x head as a small half-block heatmap.

Pure rendering: numpy arrays and labels in, rich ``Text`` out. With colour, each character cell
shows two matrix rows (``▀``: foreground = upper row, background = lower row) on the viridis
scale; without colour the same panel uses the shade characters `` ░▒▓█`` so it reads in a log.

Another measure than weights (scores, norms) colours each panel from its smallest to its largest
value; its masked cells (NaN: a score the mask removed) stay blank, a space with or without colour,
so its shades start at ``·`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text

from attninspect.analysis.inspection import Inspection
from attninspect.render.measure_text import value_label, value_range
from attninspect.render.palette import viridis
from attninspect.safe_text import printable

SHADES = " ░▒▓█"
MEASURE_SHADES = "·░▒▓█"  # another measure: a space is a masked cell, never a low value
UPPER_HALF = "▀"
LOWER_HALF = "▄"
GAP = 2  # columns between panels
MIN_PANEL = 8  # wide enough for "L11 H11" and "sink .42"
POOLING = "mean"


@dataclass(frozen=True)
class HeadPanel:
    """One heatmap: its label, its (Tq, Tk) matrix and its share of attention on special tokens."""

    label: str
    matrix: np.ndarray  # (Tq, Tk)
    sink: float | None = None
    measure: str = "weights"  # what a cell holds (`analysis.measures`): the panel's colour scale


def pool(matrix: np.ndarray, size: int) -> np.ndarray:
    """(R, C) -> (min(R, size), min(C, size)): the mean over near-equal blocks of cells; masked
    cells (NaN) are left out of a block's mean, and a block of masked cells only is NaN."""
    rows = np.array_split(np.arange(matrix.shape[0]), min(matrix.shape[0], size))
    cols = np.array_split(np.arange(matrix.shape[1]), min(matrix.shape[1], size))
    pooled = np.empty((len(rows), len(cols)), dtype=np.float64)
    if not np.isnan(matrix).any():
        for i, row in enumerate(rows):
            block = matrix[row[0] : row[-1] + 1].mean(axis=0)  # (C,)
            pooled[i] = [block[col[0] : col[-1] + 1].mean() for col in cols]
        return pooled
    present = np.isfinite(matrix)
    values = np.where(present, matrix, 0.0)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            cells = (slice(row[0], row[-1] + 1), slice(col[0], col[-1] + 1))
            count = int(present[cells].sum())
            pooled[i, j] = float(values[cells].sum()) / count if count else np.nan
    return pooled


def grid_panels(
    attention: np.ndarray,
    layers: list[int],
    heads: list[int],
    special: list[bool],
    mean: bool = True,
    rollout: bool = False,
    measure: str = "weights",
    head_sum: np.ndarray | None = None,
) -> list[list[HeadPanel]]:
    """(L, H, Tq, Tk) -> one row of panels per chosen layer: its chosen heads, then the head mean
    (with ``rollout``, one panel per layer: the rollout up to it). ``special`` marks the keys.
    ``measure``: what the cells hold; the sink share (a share of weights) only for weights.
    ``head_sum`` (L, Tq, Tk): the norms' head mean, the norm of the sum over heads, in place of
    the mean of the heads' norms."""
    mask = np.array(special, dtype=bool) if measure == "weights" else np.zeros(0, dtype=bool)
    bands = []
    for layer in layers:
        matrices = [
            (f"L{layer}" if rollout else f"L{layer} H{head}", attention[layer, head])
            for head in heads
        ]  # the header says "rollout"; its one panel per layer needs no head
        if mean and attention.shape[1] > 1:
            shown = attention[layer].mean(axis=0) if head_sum is None else head_sum[layer]
            matrices.append((f"L{layer} mean", shown))
        bands.append([HeadPanel(label, m, _sink(m, mask), measure) for label, m in matrices])
    return bands


def _sink(matrix: np.ndarray, special: np.ndarray) -> float | None:
    """The mean share of a query's attention that lands on special tokens; None without any."""
    if not special.any():  # no special token, or another measure than weights
        return None
    return float(matrix[:, special].sum(axis=-1).mean())


def panel_lines(panel: HeadPanel, size: int, color: bool) -> list[Text]:
    """The panel as lines of text: label, heatmap (scaled to its own max; another measure from
    its smallest to its largest value, masked cells blank), sink share."""
    cells = pool(panel.matrix, size)  # (r, c)
    if panel.measure == "weights":
        peak = float(cells.max()) if cells.size else 0.0
        scaled = cells / peak if peak > 0 else cells
    else:
        low, high = value_range(cells, panel.measure)
        scaled = (cells - low) / (high - low)  # NaN stays NaN: blank
    frame = "" if color else "│"  # without colour, blank cells need an edge to sit in
    width = max(scaled.shape[1] + 2 * len(frame), MIN_PANEL)
    lines = [Text(panel.label[:width].ljust(width), style="bold")]
    for top in range(0, scaled.shape[0], 2):
        upper = scaled[top]
        lower = scaled[top + 1] if top + 1 < scaled.shape[0] else None
        line = Text(frame, style="dim" if frame else "")
        shades = SHADES if panel.measure == "weights" else MEASURE_SHADES
        line.append_text(_color_row(upper, lower) if color else _shade_row(upper, lower, shades))
        line.append(frame, style="dim")
        line.append(" " * (width - line.cell_len))
        lines.append(line)
    sink = "" if panel.sink is None else f"sink {panel.sink:.2f}".replace("0.", ".", 1)
    lines.append(Text(sink[:width].ljust(width), style="dim"))
    return lines


def _color_row(upper: np.ndarray, lower: np.ndarray | None) -> Text:
    """Two matrix rows in one line of ``▀``: upper in the foreground, lower in the background;
    a masked cell (NaN) is blank: ``▄`` under a masked upper one, no background under a masked
    lower one, a space where both are."""
    text = Text()
    for index, value in enumerate(upper):
        below = None if lower is None or np.isnan(lower[index]) else viridis(float(lower[index]))
        if not np.isnan(value):
            text.append(UPPER_HALF, style=Style(color=viridis(float(value)), bgcolor=below))
        elif below is not None:
            text.append(LOWER_HALF, style=Style(color=below))
        else:
            text.append(" ")
    return text


def _shade_row(upper: np.ndarray, lower: np.ndarray | None, shades: str = SHADES) -> Text:
    """Two matrix rows in one line of shade characters (their mean, ``shades[0]`` low to ``█``
    high; a masked cell is left out of the mean, and a space where both are masked)."""
    pair = upper[None] if lower is None else np.stack([upper, lower])  # (1 or 2, c)
    present = ~np.isnan(pair)
    counts = present.sum(axis=0)
    values = np.where(present, pair, 0.0).sum(axis=0) / np.maximum(counts, 1)  # (c,)
    steps = np.clip((values * len(shades)).astype(int), 0, len(shades) - 1)
    cells = zip(steps, counts, strict=True)
    return Text("".join(shades[step] if count else " " for step, count in cells))


def layout(bands: list[list[HeadPanel]], width: int, size: int, color: bool) -> list[Text]:
    """All panels side by side in reading order, wrapped to ``width`` columns."""
    rendered = [panel_lines(panel, size, color) for band in bands for panel in band]
    panel_width = max((line.cell_len for p in rendered for line in p), default=0)
    per_row = max(1, (width + GAP) // (panel_width + GAP))
    lines: list[Text] = []
    for start in range(0, len(rendered), per_row):
        if lines:
            lines.append(Text())
        lines.extend(_side_by_side(rendered[start : start + per_row]))
    return lines


def _side_by_side(panels: list[list[Text]]) -> list[Text]:
    """Join panels column-wise, padding shorter ones with blank lines."""
    height = max(len(p) for p in panels)
    rows = []
    for index in range(height):
        row = Text()
        for number, panel in enumerate(panels):
            width = max(cell_len(line.plain) for line in panel)
            if number:
                row.append(" " * GAP)
            row.append_text(panel[index] if index < len(panel) else Text(" " * width))
        row.rstrip()
        rows.append(row)
    return rows


def panel_size(length: int, width: int, most: int = 16) -> int:
    """Cells per panel side: the text length, capped at ``most`` and at the terminal width."""
    return max(1, min(length, most, width))


def pooling_note(
    length: int,
    size: int,
    color: bool,
    key_length: int | None = None,
    measure: str = "weights",
    masked: bool = False,
) -> str:
    """One line that says how cells were pooled and how colour maps to weight (``key_length``:
    the columns, where they are not the ``length`` rows); for another ``measure``, that each
    panel goes from its smallest to its largest value, and (``masked``) that blank is masked."""
    if measure != "weights":
        return _measure_note(length, size, color, key_length, measure, masked)
    scale = "viridis" if color else "' ░▒▓█'"
    if key_length is None or key_length == length:
        pooled = (
            f"{length} tokens pooled to {size} cells ({POOLING} over blocks)"
            if length > size
            else f"{length} tokens, a cell each"
        )
    else:
        pooled = (
            f"{length} query × {key_length} key tokens pooled to at most {size} cells a side "
            f"({POOLING} over blocks)"
            if max(length, key_length) > size
            else f"{length} query × {key_length} key tokens, a cell each"
        )
    return f"{pooled} · 2 rows per line · {scale} low→high, per-panel scale"


def _measure_note(
    length: int, size: int, color: bool, key_length: int | None, measure: str, masked: bool
) -> str:
    """`pooling_note` for another measure than weights."""
    pooled = pooling_note(length, size, color, key_length).split(" · 2 rows per line")[0]
    if masked and max(length, key_length or length) > size:
        pooled += ", masked cells left out"
    scale = "viridis" if color else f"'{MEASURE_SHADES}'"
    blank = " · blank: masked" if masked else ""
    return (
        f"{pooled} · 2 rows per line · {value_label(measure)}: {scale} from each panel's smallest "
        f"to its largest (per-panel scale: heads' ranges differ){blank}"
    )


def write_grid(
    console: Console,
    inspection: Inspection,
    chosen: tuple[list[int], list[int]],
    color: bool,
    note: str = "",
    rollout: bool = False,
) -> None:
    """The whole `grid` output: what was run, how cells were pooled, then the panels."""
    layers, heads = chosen
    width = console.width
    rows, columns = inspection.query_length, inspection.key_length
    size = panel_size(max(rows, columns), width)
    header = Text(printable(inspection.model), style="bold")
    heads_count = "" if rollout else f" × {_count(inspection.num_heads, 'head')}"
    header.append(
        f"  {_count(inspection.num_layers, 'layer')}{heads_count} · {_tokens(inspection)}{note}",
        style="dim",
    )
    console.print(header)
    keys = None if inspection.square else columns
    measure = inspection.measure
    masked = bool(np.isnan(inspection.attention[np.ix_(layers, heads)]).any())
    console.print(Text(pooling_note(rows, size, color, keys, measure, masked), style="dim"))
    console.print()
    special = inspection.keys.special  # the sink share is attention on special keys
    bands = grid_panels(inspection.attention, layers, heads, special, rollout=rollout,
                        measure=measure, head_sum=inspection.head_sum)  # fmt: skip
    for line in layout(bands, width, size, color):
        console.print(line)


def _tokens(inspection: Inspection) -> str:
    """``9 tokens``, or for other kinds ``5 target × 7 source tokens (cross attention)``."""
    if inspection.sides is None:
        return _count(inspection.length, "token")
    rows, columns = inspection.sides
    return (
        f"{inspection.query_length} {rows} × {inspection.key_length} {columns} tokens "
        f"({inspection.kind} attention)"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
