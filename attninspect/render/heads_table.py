"""Render a head search: the top heads with bars, and the full layer x head grid (of weights, or
of the measure the heads were ranked by: scores, blank where masked, or norms)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.analysis.head_ranking import HeadSearch
from attninspect.render.matrix import MEASURE_TITLES
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable

BAR_CELLS = 24


def _bar(weight: float, scale: float) -> str:
    filled = round(BAR_CELLS * weight / scale) if scale > 0 and weight == weight else 0
    return "█" * filled


def _value(value: float, precision: int) -> str:
    return "" if value != value else f"{value:.{precision}f}"  # a masked score is blank


def _scale(search: HeadSearch) -> tuple[float, float]:
    """The bars' and colours' ends: 0 to the top weight; for another measure, the smallest to
    the largest value (masked heads, NaN, left out)."""
    found = [score.weight for score in search.scores if score.weight == score.weight]
    if not found:
        return 0.0, 1.0
    return (0.0 if search.measure == "weights" else min(found)), max(found)


def _title(search: HeadSearch) -> Text:
    """Model, and which query token and key token the heads are ranked for."""
    inspection = search.inspection
    source = printable(inspection.query_tokens[search.source])  # a query: the rows
    target = printable(inspection.key_tokens[search.target])  # a key: the columns
    title = Text()
    title.append(printable(inspection.model), style="bold")
    title.append(f"  {inspection.engine} · {inspection.device}\n", style="dim")
    title.append(f"which heads link {source} (@{search.source}) to {target} (@{search.target})")
    if search.measure != "weights":
        measure = MEASURE_TITLES.get(search.measure, search.measure)
        title.append(f"\nranked by {measure}", style="dim")
    if inspection.sides is not None:
        rows, columns = inspection.sides
        title.append(f"  ({inspection.kind} attention: {rows} → {columns})", style="dim")
    return title


def heads_table(search: HeadSearch, top: int, color: bool) -> Group:
    """Title, the top heads with bars, and the coloured layer x head grid."""
    title = _title(search)
    low, high = _scale(search)
    ranking = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("rank", "layer", "head"):
        ranking.add_column(name, justify="right")
    ranking.add_column(search.measure[:-1], justify="right")  # weight, score or norm
    ranking.add_column("", no_wrap=True)
    for rank, score in enumerate(search.scores[:top], start=1):
        ranking.add_row(
            str(rank),
            str(score.layer),
            str(score.head),
            _value(score.weight, 3),
            Text(_bar(score.weight - low, high - low), style="cyan"),
        )
    layers = max(score.layer for score in search.scores) + 1
    heads = max(score.head for score in search.scores) + 1
    weights = {(s.layer, s.head): s.weight for s in search.scores}
    width = 4  # "0.30"; another measure: its longest value ("-12.34")
    if search.measure != "weights":
        width = max(width, *(len(_value(value, 2)) for value in weights.values()))
    grid = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False)
    grid.add_column("layer", justify="right", width=6)
    for head in range(heads):
        grid.add_column(f"h{head}", justify="right", width=width, min_width=width)
    for layer in range(layers):
        cells = []
        for head in range(heads):
            weight = weights[(layer, head)]
            masked = weight != weight
            style = weight_style(weight - low, high - low) if color and not masked else ""
            cells.append(Text(_value(weight, 2), style=style))
        grid.add_row(f"{layer} ", *cells)
    parts: list[RenderableType] = [title, ranking, Text("every layer x head", style="bold"), grid]
    if color:
        parts.append(legend(high, 2, low=low))
    return Group(*parts)
