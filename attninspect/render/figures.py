"""Figures for papers: matplotlib heatmaps of attention, saved as PNG, SVG or PDF.

Pure rendering: numpy arrays and labels in, bytes out. matplotlib is imported only inside these
functions (object-oriented API, never pyplot), so importing this module costs nothing. The same
input gives the same bytes: no dates, versions or random ids in the files.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attninspect.render.measure_text import (
    HEAD_SUM,
    MASKED_NOTE,
    has_masked,
    value_label,
    value_range,
)
from attninspect.safe_text import printable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

FIGURE_KINDS = ("png", "svg", "pdf")
NEWLINE = "\n"
MAX_TICKS = 40  # more tokens than this: label every k-th token only
RC = {
    "svg.fonttype": "none",  # tokens stay <text>: searchable and editable
    "svg.hashsalt": "attninspect",  # fixed ids instead of random ones
    "pdf.fonttype": 42,
    "text.parse_math": False,  # a token like "$x$" is text, not mathtext
    "font.size": 8,
}
METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Fixed rc settings, and no warnings about glyphs a font lacks."""
    import matplotlib

    with matplotlib.rc_context(RC), warnings.catch_warnings():  # type: ignore[arg-type]
        warnings.simplefilter("ignore", UserWarning)
        yield


def _colormap(name: str, measure: str) -> str | Colormap:
    """The colour map ``name``; for another measure than weights, one that leaves masked cells
    (NaN) white: blank, never the low end's colour (weights keep the plain name, and so their
    bytes)."""
    if measure == "weights":
        return name
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="white")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def tick_step(count: int, most: int = MAX_TICKS) -> int:
    """Label every k-th token so that at most ``most`` labels show."""
    return max(1, -(-count // most))


def _label_axis(
    axes: Axes, axis: str, tokens: Sequence[str], special: Sequence[bool] | None
) -> None:
    """Token tick labels on one axis, thinned for long inputs; special tokens grey italic."""
    step = tick_step(len(tokens))
    positions = list(range(0, len(tokens), step))
    labels = [printable(tokens[p]) for p in positions]
    if axis == "x":
        axes.set_xticks(positions, labels, rotation=90)
        ticks = axes.get_xticklabels()
    else:
        axes.set_yticks(positions, labels)
        ticks = axes.get_yticklabels()
    for position, tick in zip(positions, ticks, strict=True):
        if special is not None and special[position]:
            tick.set_color("0.45")
            tick.set_fontstyle("italic")


def _title(title: str) -> str:
    """A title's lines, each with control characters escaped."""
    return "\n".join(printable(line) for line in title.split("\n"))


def _side(count: int) -> float:
    """Inches for ``count`` tokens of a heatmap's side: grows with them, within [4, 12]."""
    return float(min(12.0, max(4.0, 2.0 + 0.16 * count)))


@dataclass(frozen=True)
class KeyAxis:
    """The columns of a rectangular heatmap and what each axis is called."""

    columns: Sequence[str]
    column_special: Sequence[bool] | None = None
    row_label: str = "from (query)"
    column_label: str = "to (key)"


def matrix_figure(
    matrix: np.ndarray,
    tokens: Sequence[str],
    title: str,
    special: Sequence[bool] | None = None,
    focus: int | None = None,
    diverging: bool = False,
    columns: Sequence[str] | KeyAxis | None = None,
    measure: str = "weights",
    summed: bool = False,
) -> Figure:
    """(Tq, Tk) heatmap: queries down, keys across, colour bar; focus row outlined.

    ``columns`` names the keys (a plain list, or `KeyAxis` with their special flags and the axes'
    names); None: the keys are the query tokens. ``measure`` is what a cell holds (the colour
    bar names it; weights from 0, another measure from its smallest value) and ``summed`` says
    that norms are the head mean's norm of the sum; masked cells (NaN) stay blank and the
    colour bar says so.
    """
    keys_axis = _columns(tokens, special, columns)
    rows, keys = matrix.shape
    figure = _new_figure(_side(keys) + 1.2, _side(rows))
    axes = figure.add_subplot()
    if diverging:
        finite = np.abs(matrix[np.isfinite(matrix)])
        limit = (float(finite.max()) if finite.size else 0.0) or 1.0
        image = axes.imshow(matrix, cmap=_colormap("RdBu_r", measure), vmin=-limit, vmax=limit)
        label = "A − B (red: more in A, blue: more in B)"
        if measure != "weights":
            label = f"A − B, {value_label(measure, summed)} (red: more in A, blue: more in B)"
    else:
        low, high = value_range(matrix, measure)
        image = axes.imshow(matrix, cmap=_colormap("viridis", measure), vmin=low, vmax=high)
        named = value_label(measure, summed)
        label = f"{named}{NEWLINE if len(named) > 36 else ' '}(row: from, column: to)"
    if has_masked(matrix):
        label += f"\n{MASKED_NOTE}"
    figure.colorbar(image, ax=axes, shrink=0.8, label=label)
    _label_axis(axes, "y", tokens, special)
    _label_axis(axes, "x", keys_axis.columns, keys_axis.column_special)
    axes.set_ylabel(keys_axis.row_label)
    axes.set_xlabel(keys_axis.column_label)
    if focus is not None:
        _mark_focus(axes, focus, keys)
    if measure != "weights":  # a longer title: wrapped to the axes, clear of the colour bar
        width = max(30, int((_side(keys) - 0.4) * 12))  # characters a line of 9 points holds
        title = "\n".join(part for line in title.split("\n") for part in _packed(line, width))
    axes.set_title(_title(title), fontsize=9)
    return figure


def _packed(line: str, width: int) -> list[str]:
    """``line`` in lines of at most ``width`` characters, broken between its " · " parts where
    it can (a part longer than that is wrapped at its spaces)."""
    lines: list[str] = []
    for part in line.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.extend(textwrap.wrap(part, width) or [""])
    return lines


def _columns(
    tokens: Sequence[str],
    special: Sequence[bool] | None,
    columns: Sequence[str] | KeyAxis | None,
) -> KeyAxis:
    if isinstance(columns, KeyAxis):
        return columns
    if columns is None:
        return KeyAxis(tokens, special)
    return KeyAxis(columns)


def _mark_focus(axes: Axes, focus: int, width: int) -> None:
    """Outline the focus token's row in red."""
    from matplotlib.patches import Rectangle

    outline = Rectangle((-0.5, focus - 0.5), width, 1, fill=False, edgecolor="red", linewidth=1.5)
    axes.add_patch(outline)


def heads_figure(scores: np.ndarray, title: str, label: str, measure: str = "weights") -> Figure:
    """(L, H) heatmap of one number per layer and head, values written in the cells (weights
    coloured from 0, another ``measure`` from its smallest value; NaN blank)."""
    layers, heads = scores.shape
    figure = _new_figure(min(14.0, 2.5 + 0.55 * heads), min(12.0, 1.8 + 0.45 * layers))
    axes = figure.add_subplot()
    low, high = value_range(scores, measure)
    image = axes.imshow(scores, cmap=_colormap("viridis", measure), vmin=low, vmax=high)
    figure.colorbar(image, ax=axes, shrink=0.8, label=label)
    axes.set_xticks(range(heads), [str(h) for h in range(heads)])
    axes.set_yticks(range(layers), [str(layer) for layer in range(layers)])
    axes.set_xlabel("head")
    axes.set_ylabel("layer")
    if layers * heads <= 400:
        for (layer, head), value in np.ndenumerate(scores):
            if np.isnan(value):
                continue
            color = "black" if (value - low) / (high - low) > 0.6 else "white"
            axes.text(
                head, layer, f"{value:.2f}", ha="center", va="center", color=color, fontsize=6
            )
    figure.suptitle(_title(title), fontsize=9)  # constrained layout keeps room for it
    return figure


PANEL_SCALE = "each panel scaled to its own maximum: dark = 0, yellow = that panel's maximum"
PANEL_RANGE = (
    "each panel from its own smallest (dark) to its largest value (yellow): per panel, as for "
    "weights, since heads' ranges differ widely"
)


def panels_figure(
    bands: Sequence[Sequence[tuple[str, np.ndarray]]],
    title: str,
    measure: str = "weights",
    summed: bool = False,
) -> Figure:
    """Small multiples: one row per layer of (label, (Tq, Tk) matrix) panels, each its own
    scale (as the terminal's grid), which the title's last line and a colour bar say: weights
    from 0 to the panel's maximum, another ``measure`` from the panel's smallest to its largest
    value (``summed``: the norms' mean panels are the norm of the sum over heads); masked cells
    (NaN) blank."""
    rows = len(bands)
    cols = max(len(band) for band in bands)
    width, height = min(24.0, 1.1 * cols + 0.9), min(30.0, 1.2 * rows + 0.9)
    shrink = min(0.8, 0.3 + 0.1 * rows)
    if measure != "weights":  # room for the longer title and the colour bar's two-line label
        width, height, shrink = max(width, 5.5), max(height, 3.6), 0.8
    figure = _new_figure(width, height)
    grid = figure.subplots(rows, cols, squeeze=False)
    image = None
    masked = False
    for row, band in enumerate(bands):
        for col in range(cols):
            axes = grid[row][col]
            axes.set_axis_off()
            if col < len(band):
                label, matrix = band[col]
                masked = masked or has_masked(matrix)
                image = axes.imshow(
                    _to_unit(matrix, measure), cmap=_colormap("viridis", measure), vmin=0.0,
                    vmax=1.0,
                )  # fmt: skip
                axes.set_title(label, fontsize=7)
    if image is not None:
        _panel_bar(figure.colorbar(image, ax=grid, shrink=shrink, aspect=30), measure)
    if measure == "weights":
        figure.suptitle(_title(title) + "\n" + PANEL_SCALE, fontsize=9)
        return figure
    lines = [*title.split("\n"), PANEL_RANGE]
    if summed:
        lines.append(f"mean panels: the {HEAD_SUM}")
    if masked:
        lines.append(MASKED_NOTE)
    width = max(40, int(figure.get_size_inches()[0] * 12))  # characters a line of 9 points holds
    wrapped = [part for line in lines for part in textwrap.wrap(line, width) or [""]]
    figure.suptitle(_title("\n".join(wrapped)), fontsize=9)
    return figure


def _panel_bar(bar: Any, measure: str) -> None:
    """The panels' colour bar: each panel's own range, from 0 (weights) or its smallest value."""
    if measure == "weights":
        bar.set_ticks([0.0, 0.5, 1.0], labels=["0", "½ max", "max"])
        bar.set_label("weight ÷ the panel's maximum", fontsize=7)
    else:
        bar.set_ticks([0.0, 0.5, 1.0], labels=["smallest", "middle", "largest"])
        bar.set_label(f"{value_label(measure)}\n(each panel's own range)", fontsize=7)


def _to_unit(matrix: np.ndarray, measure: str) -> np.ndarray:
    """A panel on [0, 1]: weights ÷ the panel's maximum, another measure from its smallest to
    its largest value (NaN stays NaN)."""
    if measure == "weights":
        peak = float(matrix.max()) or 1.0
        return matrix / peak
    low, high = value_range(matrix, measure)
    return (matrix - low) / (high - low)


# Drawing a PNG takes about this many bytes of memory per pixel (matplotlib's Agg canvas and the
# resampled images; measured on a 512-token heatmap at 150-600 dpi: 27-29 bytes).
BYTES_PER_PIXEL = 28
SMALLEST_INCHES = (3.0, 2.0)  # no command draws a smaller figure


def picture_memory(inches: tuple[float, float], dpi: int) -> int:
    """About how many bytes drawing a PNG of ``inches`` (width, height) at ``dpi`` takes."""
    return int(inches[0] * dpi * inches[1] * dpi * BYTES_PER_PIXEL)


def check_picture_memory(inches: tuple[float, float], dpi: int, available: int) -> None:
    """Refuse a PNG whose drawing would not fit in ``available`` bytes, naming a dpi that fits."""
    from attninspect.errors import AttnInspectError
    from attninspect.units import format_bytes

    needed = picture_memory(inches, dpi)
    if needed <= available:
        return
    fits = int((available / (inches[0] * inches[1] * BYTES_PER_PIXEL)) ** 0.5)
    width, height = round(inches[0] * dpi), round(inches[1] * dpi)
    advice = f"use --dpi {fits} or less, or .svg / .pdf" if fits >= 20 else "use .svg or .pdf"
    raise AttnInspectError(
        f"--dpi {dpi}: a {width:,} × {height:,} pixel PNG needs about {format_bytes(needed)} of "
        f"memory to draw and {format_bytes(available)} is available; {advice}"
    )


def figure_bytes(
    build: Callable[[], Figure], kind: str, dpi: int = 150, available: int | None = None
) -> bytes:
    """Build a figure with ``build()`` under the fixed style; return its bytes as ``kind``. A PNG
    that would need more than ``available`` bytes (None: no limit) is refused before it is
    drawn."""
    if kind not in FIGURE_KINDS:
        raise ValueError(f"unknown figure kind {kind!r}")
    with _style():
        figure = build()
        if kind == "png" and available is not None:
            width, height = figure.get_size_inches()
            check_picture_memory((float(width), float(height)), dpi, available)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=dpi, metadata=METADATA[kind])
    return buffer.getvalue()
