"""`stats`: the layer x head grid of one corpus statistic as a heat-coloured rich table, and every
statistic as figure panels (PNG, SVG, PDF) or one self-contained HTML page.

Pure rendering from a `CorpusStats`; matplotlib is imported only when a figure is asked.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.analysis.corpus import DEFINITIONS, STATISTICS, CorpusStats
from attninspect.render.palette import legend, viridis, weight_style
from attninspect.safe_text import printable

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def meaning(stats: CorpusStats, statistic: str) -> str:
    """What ``statistic`` is, exactly, under the corpus's convention."""
    return DEFINITIONS[stats.convention][statistic]


def _scale(grid: np.ndarray) -> float:
    finite = grid[np.isfinite(grid)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _heading(stats: CorpusStats, statistic: str) -> Text:
    sums = stats.sums
    title = Text()
    title.append(printable(stats.model), style="bold")
    how = [f"{sums.texts:,} text{'s' * (sums.texts != 1)}", f"{sums.tokens:,} rows"]
    how += ["words"] * stats.words + ["special tokens hidden"] * stats.hide_special
    how += [f"{stats.kind} attention"] * (stats.kind != "self")
    how += [f"{stats.convention} convention"]
    title.append("  " + " · ".join(how) + "\n", style="dim")
    rows = sums.rows[:, STATISTICS.index(statistic)]
    title.append(f"{statistic}: {meaning(stats, statistic)}\n")
    title.append(
        f"per layer x head, over {int(rows.max()) if rows.size else 0:,} {stats.unit}",
        style="dim",
    )
    return title


def stats_table(stats: CorpusStats, statistic: str, color: bool, precision: int = 2) -> Group:
    """Title, the coloured layer x head grid of ``statistic``, its legend and the top heads."""
    grid = stats.grid(statistic)  # (L', H')
    scale = _scale(grid)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False)
    table.add_column("layer", justify="right", width=6)
    width = max(4, precision + 3)
    for head in stats.sums.heads:
        table.add_column(f"h{head}", justify="right", width=width, min_width=width)
    for layer, values in zip(stats.sums.layers, grid, strict=True):
        cells = []
        for value in values:
            if math.isnan(value):
                cells.append(Text("–", style="dim"))
                continue
            style = weight_style(float(value), scale) if color else ""
            cells.append(Text(f"{value:.{precision}f}", style=style))
        table.add_row(f"{layer} ", *cells)
    parts: list[RenderableType] = [_heading(stats, statistic), table]
    if color:
        parts.append(legend(scale, precision))
    parts.append(_top_heads(stats, grid, precision))
    return Group(*parts)


def _top_heads(stats: CorpusStats, grid: np.ndarray, precision: int, count: int = 3) -> Text:
    ranked = [
        (float(value), stats.sums.layers[i], stats.sums.heads[j])
        for (i, j), value in np.ndenumerate(grid)
        if not math.isnan(value)
    ]
    ranked.sort(key=lambda entry: -entry[0])
    shown = [f"L{layer} H{head} {value:.{precision}f}" for value, layer, head in ranked[:count]]
    return Text("highest: " + (", ".join(shown) or "none"))


def stats_figure(stats: CorpusStats, title: str) -> Figure:
    """One (L', H') heatmap panel per statistic, each on its own scale, values in the cells."""
    from matplotlib.figure import Figure

    layers, heads = len(stats.sums.layers), len(stats.sums.heads)
    columns = 4
    rows = -(-len(STATISTICS) // columns)
    panel = (min(5.0, 1.0 + 0.3 * heads), min(5.0, 0.8 + 0.3 * layers))
    figure = Figure(figsize=(panel[0] * columns, panel[1] * rows + 0.6), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for number, axes in enumerate(grid.flat):
        if number >= len(STATISTICS):
            axes.set_axis_off()
            continue
        statistic = STATISTICS[number]
        _panel(figure, axes, stats, statistic)
    figure.suptitle("\n".join(printable(line) for line in title.split("\n")), fontsize=9)
    return figure


def _panel(figure: Figure, axes, stats: CorpusStats, statistic: str) -> None:
    values = stats.grid(statistic)
    scale = _scale(values)
    shown = np.ma.masked_invalid(values)
    image = axes.imshow(shown, cmap="viridis", vmin=0.0, vmax=scale, aspect="auto")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_title(statistic, fontsize=8)
    axes.set_xticks(range(values.shape[1]), [str(h) for h in stats.sums.heads], fontsize=6)
    axes.set_yticks(range(values.shape[0]), [str(layer) for layer in stats.sums.layers])
    axes.set_xlabel("head", fontsize=7)
    axes.set_ylabel("layer", fontsize=7)
    if values.size <= 400:
        for (i, j), value in np.ndenumerate(values):
            if not math.isnan(value):
                color = "black" if value / scale > 0.6 else "white"
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", color=color, fontsize=5)


def stats_page(stats: CorpusStats, title: str) -> str:
    """One self-contained HTML page: a heat-coloured table per statistic (no script, no fetch)."""
    sections = [_html_table(stats, statistic) for statistic in STATISTICS]
    lines = "<br>".join(html.escape(printable(line)) for line in title.split("\n"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(printable(stats.model))} · corpus statistics</title>"
        "<style>body{font:13px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "margin:0.4em 0 1.4em}td,th{padding:2px 5px;text-align:right;font:11px monospace}"
        "th{color:#555}</style></head><body>"
        f'<h1 style="font-size:16px">{lines}</h1>{"".join(sections)}</body></html>\n'
    )


def _html_table(stats: CorpusStats, statistic: str) -> str:
    grid = stats.grid(statistic)
    scale = _scale(grid)
    head = "".join(f"<th>h{h}</th>" for h in stats.sums.heads)
    body = []
    for layer, values in zip(stats.sums.layers, grid, strict=True):
        cells = []
        for value in values:
            if math.isnan(value):
                cells.append("<td>–</td>")
                continue
            fraction = float(value) / scale
            colour = viridis(fraction).get_truecolor()
            ink = "#000" if fraction >= 0.55 else "#fff"
            background = "#{:02x}{:02x}{:02x}".format(*colour)
            cells.append(f'<td style="background:{background};color:{ink}">{value:.3f}</td>')
        body.append(f"<tr><th>L{layer}</th>{''.join(cells)}</tr>")
    return (
        f'<h2 id="{statistic}" style="font-size:14px">{statistic}: '
        f"{html.escape(meaning(stats, statistic))}</h2><table><tr><th></th>{head}</tr>"
        f"{''.join(body)}</table>"
    )


def stats_picture(kind: str, dpi: int, stats: CorpusStats) -> bytes:
    """`stats --save`: every statistic's panel (png, svg, pdf) or the HTML page."""
    from attninspect.render.figures import figure_bytes

    sums = stats.sums
    title = (
        f"{stats.model}\ncorpus statistics · {sums.texts:,} texts · {sums.tokens:,} rows · "
        f"{stats.convention} convention"
    )
    if kind == "html":
        return stats_page(stats, title).encode("utf-8")
    return figure_bytes(lambda: stats_figure(stats, title), kind, dpi)
