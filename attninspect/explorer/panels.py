"""What the explorer draws, as rich Text: the windowed matrix, tokens, focus panel, model view.

Plain rich (no Textual), built line by line so that a key press redraws in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View
from attninspect.render.matrix import label_width_for
from attninspect.render.palette import viridis, weight_style
from attninspect.safe_text import printable

CELL = 4  # "0.30"
HEADER_LINES = 3  # key indices, key tokens, rule
SHADES = " ░▒▓█"


@dataclass(frozen=True)
class MatrixWindow:
    """Which tokens the matrix shows (the same ones down the side and across) and where."""

    start: int
    size: int
    label_width: int

    @property
    def shown(self) -> range:
        return range(self.start, self.start + self.size)

    def row_at(self, y: int) -> int | None:
        """The query token drawn on line ``y`` of the matrix, if any."""
        row = self.start + y - HEADER_LINES
        return row if y >= HEADER_LINES and row in self.shown else None


def fit_window(
    tokens: list[str], width: int, height: int, start: int, keep: int | None
) -> MatrixWindow:
    """The largest square window that fits ``width`` x ``height``, from ``start``, moved just
    enough to keep token ``keep`` in sight."""
    length = len(tokens)
    label_width = label_width_for(tokens)
    across = (width - label_width) // (CELL + 1)
    size = max(1, min(length, across, height - HEADER_LINES))
    if keep is not None:
        start = min(start, keep) if keep < start + size else keep - size + 1
    start = min(max(start, 0), length - size)
    return MatrixWindow(start, size, label_width)


def _label(text: str, width: int, style: str | Style = "") -> Text:
    label = Text(text, style=style, no_wrap=True, overflow="ellipsis")
    label.truncate(width, overflow="ellipsis", pad=True)
    return label


def matrix_text(
    shown: Inspection, view: View, window: MatrixWindow, cursor: int | None, color: bool
) -> Text:
    """Queries down the side, keys across, each weight coloured on viridis from 0 to the max."""
    tokens = [printable(token) for token in shown.tokens]
    digits = len(str(len(tokens) - 1))
    scale = float(view.matrix.max()) if view.matrix.size else 1.0
    text = _label("", window.label_width)
    for key in window.shown:
        text.append(f" {key:>{CELL}}", style="dim")
    text.append("\n")
    text.append_text(_label("from ↓  to →", window.label_width, "dim"))
    for key in window.shown:
        text.append(" ")
        text.append_text(_label(tokens[key], CELL, "italic" if shown.special[key] else ""))
    text.append("\n" + "─" * (window.label_width + window.size * (CELL + 1)))
    for query in window.shown:
        marker = "▶" if query == view.focus else " "
        style = "reverse" if query == cursor else ("bold" if query == view.focus else "")
        if shown.special[query]:
            style += " italic"
        text.append("\n")
        text.append_text(
            _label(f"{marker}{query:>{digits}} {tokens[query]}", window.label_width, style)
        )
        row = view.matrix[query]
        for key in window.shown:
            value = float(row[key])
            text.append(" ")
            text.append(f"{value:.2f}"[-CELL:], style=weight_style(value, scale) if color else "")
    return text


def window_note(window: MatrixWindow, length: int) -> str:
    """Say which tokens are in sight when not all are."""
    if window.size >= length:
        return ""
    return (
        f"tokens {window.start}..{window.start + window.size - 1} of 0..{length - 1} in sight "
        "(j/k move the row cursor, PgUp/PgDn or the mouse wheel scroll)"
    )


def tokens_text(shown: Inspection, window: MatrixWindow) -> Text:
    """The sentence's tokens with their positions; those in the matrix window are bright."""
    text = Text(f"tokens ({shown.length})  ", style="bold")
    for index, token in enumerate(shown.tokens):
        style = "" if index in window.shown else "dim"
        if shown.special[index]:
            style += " italic"
        text.append(f"{index}:", style="dim")
        text.append(printable(token), style=style.strip())
        text.append("  ")
    return text


def _bar(weight: float, cells: int = 4) -> str:
    eighths = round(min(max(weight, 0.0), 1.0) * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(cells)


def focus_text(shown: Inspection, view: View) -> Text:
    """Per layer, the top-K tokens that the focus token attends to (selected heads)."""
    if view.focus is None:
        return Text(
            "no focus token: move the row cursor with j/k and press Enter, or click a row",
            style="dim",
        )
    token = printable(shown.tokens[view.focus])
    head = "rollout" if view.kind == "rollout" else f"head {view.head}"
    text = Text(f"what {token} (@{view.focus}) attends to, per layer ({head})", style="bold")
    for layer, ranked in enumerate(view.focus_by_layer):
        current = layer == view.layer
        text.append(f"\n{'▶' if current else ' '}{layer:>3}  ", style="bold" if current else "")
        for entry in ranked:
            text.append_text(_label(printable(shown.tokens[entry.index]), 10))
            text.append(_bar(entry.weight), style="cyan")
            text.append(f" {entry.weight:.2f}   ")
    return text


@dataclass(frozen=True)
class GridLayout:
    """The model view: one small heatmap per layer x head, in rows of layers."""

    side: int  # cells per heatmap side (one character column per key, two rows per character)

    @property
    def stride(self) -> int:
        return max(self.side, 6) + 1

    @property
    def rows_per_layer(self) -> int:
        return (self.side + 1) // 2 + 1

    def panel_at(self, x: int, y: int, layers: int, heads: int) -> tuple[int, int] | None:
        layer, head = y // self.rows_per_layer, x // self.stride
        return (layer, head) if layer < layers and head < heads else None


def grid_layout(length: int, width: int, heads: int) -> GridLayout:
    """Heatmaps as large as fit ``heads`` across ``width`` (at most one cell per token)."""
    side = min(length, max(2, width // max(heads, 1) - 1), 16)
    return GridLayout(side)


def _shrink(matrix: np.ndarray, side: int) -> np.ndarray:
    """(T, T) -> (side, side): the mean of each block."""
    edges = np.linspace(0, matrix.shape[0], side + 1).astype(int)
    rows = np.add.reduceat(matrix, edges[:-1], axis=0) / np.diff(edges)[:, None]
    return np.add.reduceat(rows, edges[:-1], axis=1) / np.diff(edges)[None, :]


def grid_text(
    attention: np.ndarray, layout: GridLayout, selected: tuple[int, int], color: bool
) -> Text:
    """Every layer x head of (L, H, T, T) as a heatmap labelled ``L<layer> H<head>``."""
    layers, heads = attention.shape[:2]
    minis = [[_shrink(attention[la, h], layout.side) for h in range(heads)] for la in range(layers)]
    text = Text()
    for layer in range(layers):
        for head in range(heads):
            style = "reverse bold" if (layer, head) == selected else "bold"
            text.append_text(_label(f"L{layer} H{head}", layout.stride - 1, style))
            text.append(" ")
        for pair in range(0, layout.side, 2):
            text.append("\n")
            for head in range(heads):
                _heat_line(text, minis[layer][head], pair, layout, color)
        text.append("\n")
    return text


def _heat_line(text: Text, mini: np.ndarray, row: int, layout: GridLayout, color: bool) -> None:
    """Rows ``row`` and ``row + 1`` of one heatmap as half blocks (shades without colour)."""
    scale = float(mini.max()) or 1.0
    for key in range(layout.side):
        top = float(mini[row, key]) / scale
        bottom = float(mini[row + 1, key]) / scale if row + 1 < layout.side else None
        if color:
            below = viridis(bottom) if bottom is not None else None
            text.append("▀", style=Style(color=viridis(top), bgcolor=below))
        else:
            text.append(SHADES[round(top * (len(SHADES) - 1))])
    text.append(" " * (layout.stride - layout.side))
