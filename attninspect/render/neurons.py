"""The neuron view in the terminal: the query vector, then one row per key token with its key
vector, q⊙k, q·k, the model's score and the weight. A vector is a strip of one cell per
dimension: red for positive, blue for negative, darker for larger (without colour: ``+``,
``-`` for the larger values and ``·`` for the small ones). Strips longer than the terminal
allows show their first dimensions and say so."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from attninspect.analysis.neurons import Neurons
from attninspect.safe_text import printable

LABEL = 14  # key token column
NUMBERS = 3 * 9  # q·k, score, weight
SMALL = 0.25  # below this share of the largest |value|, a cell is small
POSITIVE, NEGATIVE = (178, 24, 43), (33, 102, 172)  # ColorBrewer RdBu ends

# What the title adds for an encoder–decoder kind (self-attention adds nothing).
KIND_TITLES = {
    "encoder": " (encoder)",
    "decoder": " (decoder)",
    "cross": " (cross: target → source)",
}


def _cell_style(value: float, largest: float) -> Style:
    share = min(abs(value) / largest, 1.0) if largest > 0 else 0.0
    end = POSITIVE if value >= 0 else NEGATIVE
    red, green, blue = (round(255 + (c - 255) * share) for c in end)
    return Style(bgcolor=f"rgb({red},{green},{blue})")


def strip(vector: np.ndarray, largest: float, color: bool) -> Text:
    """One cell per dimension of ``vector``, scaled by ``largest``."""
    text = Text()
    for value in vector.tolist():
        if color:
            text.append(" ", style=_cell_style(value, largest))
        elif largest > 0 and abs(value) >= SMALL * largest:
            text.append("+" if value >= 0 else "-")
        else:
            text.append("·")
    return text


def _number(value: float, precision: int = 2) -> str:
    return "" if np.isnan(value) else f"{value:.{precision}f}"  # a masked key: blank


def render_neurons(neurons: Neurons, console: Console) -> RenderableType:
    """Everything the neuron view shows, ready for ``console.print``."""
    color = console.color_system is not None
    size = int(neurons.query.shape[0])
    room = max(8, (console.width - LABEL - NUMBERS - 8) // 2)
    shown = min(size, room)
    products = neurons.products
    title = Text(
        f"neuron view{KIND_TITLES.get(neurons.kind, '')} · layer {neurons.layer} · head "
        f"{neurons.head} · query {printable(neurons.query_token)} (@{neurons.focus})",
        style="bold",
    )
    query = Text("q ".rjust(LABEL))
    query.append_text(strip(neurons.query[:shown], float(np.abs(neurons.query).max()), color))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("key", no_wrap=True, max_width=LABEL, overflow="ellipsis")
    table.add_column("k", no_wrap=True)
    table.add_column("q⊙k", no_wrap=True)
    for name in ("q·k", "score", "weight"):
        table.add_column(name, justify="right", no_wrap=True)
    key_scale = float(np.abs(neurons.keys).max())
    product_scale = float(np.abs(products).max())
    for index, token in enumerate(neurons.key_tokens):
        table.add_row(
            f"{index} {printable(token)}",
            strip(neurons.keys[index, :shown], key_scale, color),
            strip(products[index, :shown], product_scale, color),
            _number(float(neurons.dots[index])),
            _number(float(neurons.scores[index])),
            _number(float(neurons.weights[index]), 3),
        )
    parts: list[RenderableType] = [title, query, table]
    note = "score: the model's own logit (q·k scaled, with its mask and bias); weight: softmax"
    if shown < size:
        note = f"first {shown} of {size} dimensions shown; " + note
    parts.append(Text(note, style="dim"))
    return Group(*parts)
