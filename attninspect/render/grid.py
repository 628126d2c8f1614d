"""The model view in a terminal: every layer x head as a small half-block heatmap.

Pure rendering: numpy arrays and labels in, rich ``Text`` out. With colour, each character cell
shows two matrix rows (``▀``: foreground = upper row, background = lower row) on the viridis
scale; without colour the same panel uses the shade characters `` ░▒▓█`` so it reads in a log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text

from attninspect.analysis.inspection import Inspection
from attninspect.render.palette import viridis
from attninspect.safe_text import printable

SHADES = " ░▒▓█"
UPPER_HALF = "▀"
GAP = 2  # columns between panels
MIN_PANEL = 8  # wide enough for "L11 H11" and "sink .42"
POOLING = "mean"


@dataclass(frozen=True)
class HeadPanel:
    """One heatmap: its label, its (Tq, Tk) matrix and its share of attention on special tokens."""

    label: str
    matrix: np.ndarray  # (Tq, Tk)
    sink: float | None = None


def pool(matrix: np.ndarray, size: int) -> np.ndarray:
    """(R, C) -> (min(R, size), min(C, size)): the mean over near-equal blocks of cells."""
    rows = np.array_split(np.arange(matrix.shape[0]), min(matrix.shape[0], size))
    cols = np.array_split(np.arange(matrix.shape[1]), min(matrix.shape[1], size))
    pooled = np.empty((len(rows), len(cols)), dtype=np.float64)
    for i, row in enumerate(rows):
        block = matrix[row[0] : row[-1] + 1].mean(axis=0)  # (C,)
        pooled[i] = [block[col[0] : col[-1] + 1].mean() for col in cols]
    return pooled


def grid_panels(
    attention: np.ndarray,
    layers: list[int],
    heads: list[int],
    special: list[bool],
    mean: bool = True,
    rollout: bool = False,
) -> list[list[HeadPanel]]:
    """(L, H, Tq, Tk) -> one row of panels per chosen layer: its chosen heads, then the head mean
    (with ``rollout``, one panel per layer: the rollout up to it). ``special`` marks the keys."""
    mask = np.array(special, dtype=bool)
    bands = []
    for layer in layers:
        matrices = [
            (f"L{layer}" if rollout else f"L{layer} H{head}", attention[layer, head])
            for head in heads
        ]  # the header says "rollout"; its one panel per layer needs no head
        if mean and attention.shape[1] > 1:
            matrices.append((f"L{layer} mean", attention[layer].mean(axis=0)))
        bands.append([HeadPanel(label, m, _sink(m, mask)) for label, m in matrices])
    return bands


def _sink(matrix: np.ndarray, special: np.ndarray) -> float | None:
    """The mean share of a query's attention that lands on special tokens; None without any."""
    if not special.any():
        return None
    return float(matrix[:, special].sum(axis=-1).mean())


def panel_lines(panel: HeadPanel, size: int, color: bool) -> list[Text]:
    """The panel as lines of text: label, heatmap (scaled to its own max), sink share."""
    cells = pool(panel.matrix, size)  # (r, c)
    peak = float(cells.max()) if cells.size else 0.0
    scaled = cells / peak if peak > 0 else cells
    frame = "" if color else "│"  # without colour, blank cells need an edge to sit in
    width = max(scaled.shape[1] + 2 * len(frame), MIN_PANEL)
    lines = [Text(panel.label[:width].ljust(width), style="bold")]
    for top in range(0, scaled.shape[0], 2):
        upper = scaled[top]
        lower = scaled[top + 1] if top + 1 < scaled.shape[0] else None
        line = Text(frame, style="dim" if frame else "")
        line.append_text(_color_row(upper, lower) if color else _shade_row(upper, lower))
        line.append(frame, style="dim")
        line.append(" " * (width - line.cell_len))
        lines.append(line)
    sink = "" if panel.sink is None else f"sink {panel.sink:.2f}".replace("0.", ".", 1)
    lines.append(Text(sink[:width].ljust(width), style="dim"))
    return lines


def _color_row(upper: np.ndarray, lower: np.ndarray | None) -> Text:
    """Two matrix rows in one line of ``▀``: upper in the foreground, lower in the background."""
    text = Text()
    for index, value in enumerate(upper):
        below = None if lower is None else viridis(float(lower[index]))
        text.append(UPPER_HALF, style=Style(color=viridis(float(value)), bgcolor=below))
    return text


def _shade_row(upper: np.ndarray, lower: np.ndarray | None) -> Text:
    """Two matrix rows in one line of shade characters (their mean, ``' '`` low to ``█`` high)."""
    values = upper if lower is None else (upper + lower) / 2  # (c,)
    steps = np.minimum((values * len(SHADES)).astype(int), len(SHADES) - 1)
    return Text("".join(SHADES[step] for step in steps))


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


def pooling_note(length: int, size: int, color: bool, key_length: int | None = None) -> str:
    """One line that says how cells were pooled and how colour maps to weight (``key_length``:
    the columns, where they are not the ``length`` rows)."""
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
    console.print(Text(pooling_note(rows, size, color, keys), style="dim"))
    console.print()
    special = inspection.keys.special  # the sink share is attention on special keys
    bands = grid_panels(inspection.attention, layers, heads, special, rollout=rollout)
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
