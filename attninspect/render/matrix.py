"""The human view of `run`: shape summary, coloured T x T matrix, legend and focus list."""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.inspection import Inspection
from attninspect.render.palette import legend, weight_style
from attninspect.safe_text import printable
from attninspect.views import RunView, window

LABEL_WIDTH = 16
LISTED_TOKENS = 64  # longer texts list only the tokens of the shown window
BAR_WIDTH = 4
BLOCKS = " ▏▎▍▌▋▊▉█"


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _head_label(view: RunView, num_heads: int) -> str:
    match view.head:
        case "mean":
            return f"mean of {num_heads} heads"
        case "max":
            return f"max over {num_heads} heads"
        case _:
            return f"head {view.head} of {num_heads}"


def summary(inspection: Inspection, view: RunView, shown: range) -> Text:
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
    text.append(
        f"layer {view.layer} (of 0..{layers - 1}) · {_head_label(view, inspection.num_heads)}",
        style="bold",
    )
    text.append("   rows: query (from) · columns: key (to)", style="dim")
    return text


def label_width_for(inspection: Inspection) -> int:
    """Row labels: focus marker, index, space, token; capped at LABEL_WIDTH."""
    index_width = len(str(inspection.length - 1))
    longest = max(cell_len(printable(token)) for token in inspection.tokens)
    return min(LABEL_WIDTH, 2 + index_width + longest)


def fitting_tokens(width: int, precision: int, label_width: int) -> int:
    """How many key columns fit beside the row labels in ``width`` cells."""
    cell = precision + 3  # "0.12" plus the one-cell gap
    return max(1, (width - label_width) // cell)


def matrix_table(
    inspection: Inspection,
    view: RunView,
    shown: range,
    precision: int,
    color: bool,
    label_width: int = LABEL_WIDTH,
) -> Table:
    """Queries down the side, keys across; each cell is the weight, coloured by its value."""
    tokens = [printable(token) for token in inspection.tokens]
    scale_max = float(view.matrix.max()) if view.matrix.size else 1.0
    cell_width = precision + 2
    index_width = len(str(inspection.length - 1))
    # SIMPLE_HEAD draws a one-cell gap between columns and a rule under the header.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True, overflow="ellipsis", width=label_width)
    for key in shown:
        header = Text(f"{key}\n{tokens[key]}", style="italic" if inspection.special[key] else "")
        table.add_column(
            header,
            width=cell_width,
            min_width=cell_width,
            no_wrap=True,
            overflow="ellipsis",
            justify="right",
        )
    for query in shown:
        marker = "▶" if query == view.focus else " "
        label_style = "bold" if query == view.focus else ""
        if inspection.special[query]:
            label_style += " italic dim"
        label = Text(f"{marker}{query:>{index_width}} {tokens[query]}", style=label_style.strip())
        cells = []
        for key in shown:
            weight = float(view.matrix[query, key])
            style = weight_style(weight, scale_max) if color else None
            cells.append(Text(f"{weight:.{precision}f}", style=style or ""))
        table.add_row(label, *cells, style="bold" if query == view.focus else None)
    return table


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


def focus_table(inspection: Inspection, view: RunView) -> Group:
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
    view: RunView,
    console: Console,
    precision: int = 2,
    window_size: int | None = None,
    full: bool = False,
) -> RenderableType:
    """Everything `run` shows for one text, ready for ``console.print``."""
    color = console.color_system is not None
    length = inspection.length
    label_width = label_width_for(inspection)
    size = length if full else window_size or fitting_tokens(console.width, precision, label_width)
    shown = window(length, size, view.focus)
    parts: list[RenderableType] = [summary(inspection, view, shown), Text()]
    parts.append(matrix_table(inspection, view, shown, precision, color, label_width))
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
    if view.focus is not None:
        parts.append(Text())
        parts.append(focus_table(inspection, view))
    return Group(*parts)
