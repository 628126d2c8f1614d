"""Render a head search: the top heads with bars, and the full layer x head grid."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.analysis.head_ranking import HeadSearch
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable

BAR_CELLS = 24


def _bar(weight: float, scale: float) -> str:
    filled = round(BAR_CELLS * weight / scale) if scale > 0 else 0
    return "█" * filled


def _title(search: HeadSearch) -> Text:
    """Model, and which query token and key token the heads are ranked for."""
    inspection = search.inspection
    source = printable(inspection.query_tokens[search.source])  # a query: the rows
    target = printable(inspection.key_tokens[search.target])  # a key: the columns
    title = Text()
    title.append(printable(inspection.model), style="bold")
    title.append(f"  {inspection.engine} · {inspection.device}\n", style="dim")
    title.append(f"which heads link {source} (@{search.source}) to {target} (@{search.target})")
    if inspection.sides is not None:
        rows, columns = inspection.sides
        title.append(f"  ({inspection.kind} attention: {rows} → {columns})", style="dim")
    return title


def heads_table(search: HeadSearch, top: int, color: bool) -> Group:
    """Title, the top heads with bars, and the coloured layer x head grid."""
    title = _title(search)
    scale = search.scores[0].weight if search.scores else 1.0
    ranking = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("rank", "layer", "head"):
        ranking.add_column(name, justify="right")
    ranking.add_column("weight", justify="right")
    ranking.add_column("", no_wrap=True)
    for rank, score in enumerate(search.scores[:top], start=1):
        ranking.add_row(
            str(rank),
            str(score.layer),
            str(score.head),
            f"{score.weight:.3f}",
            Text(_bar(score.weight, scale), style="cyan"),
        )
    layers = max(score.layer for score in search.scores) + 1
    heads = max(score.head for score in search.scores) + 1
    weights = {(s.layer, s.head): s.weight for s in search.scores}
    grid = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False)
    grid.add_column("layer", justify="right", width=6)
    for head in range(heads):
        grid.add_column(f"h{head}", justify="right", width=4, min_width=4)
    for layer in range(layers):
        cells = []
        for head in range(heads):
            weight = weights[(layer, head)]
            style = weight_style(weight, scale) if color else ""
            cells.append(Text(f"{weight:.2f}", style=style))
        grid.add_row(f"{layer} ", *cells)
    parts: list[RenderableType] = [title, ranking, Text("every layer x head", style="bold"), grid]
    if color:
        parts.append(legend(scale, 2))
    return Group(*parts)
