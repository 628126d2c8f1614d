"""What each command saves with ``--save FILE``: the file kind from its name, and the bytes.

Pure rendering from arrays and tokens; the command line writes the bytes atomically. PNG, SVG
and PDF come from `figures` (matplotlib, imported only here, only when asked); HTML from
`html_page`, with every layer and head the command kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.neurons import LayerNeurons
from attninspect.analysis.selection import HeadChoice
from attninspect.errors import AttnInspectError
from attninspect.render.figures import (
    KeyAxis,
    figure_bytes,
    heads_figure,
    matrix_figure,
    panels_figure,
)
from attninspect.render.grid import grid_panels
from attninspect.render.html_page import document, render_page

PICTURE_KINDS = ("png", "svg", "pdf", "html")
# What the heads figure's one number per layer and head is, by measure.
HEADS_LABELS = {"weights": "weight", "scores": "score (pre-softmax logit)", "norms": "norm ‖αf(x)‖"}


def picture_kind(path: Path) -> str:
    """The kind of picture a file name asks for, or one clear error."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in PICTURE_KINDS:
        known = ", ".join(f".{k}" for k in PICTURE_KINDS)
        raise AttnInspectError(f"--save {str(path)!r}: unknown picture type; use {known}")
    return kind


def _figure(
    kind: str, dpi: int, build: Callable[[], object], available: int | None = None
) -> bytes:
    """The figure's bytes; a PNG that needs more than ``available`` bytes is refused."""
    return figure_bytes(build, kind, dpi, available)  # type: ignore[arg-type]


def key_axis(inspection: Inspection) -> KeyAxis:
    """A heatmap's key tokens and its axes' names: the side of the text each holds, for the
    kinds of an encoder–decoder model."""
    keys = inspection.keys
    if inspection.sides is None:
        return KeyAxis(keys.tokens, keys.special)
    rows, columns = inspection.sides
    return KeyAxis(keys.tokens, keys.special, f"{rows} (query, from)", f"{columns} (key, to)")


def page_subtitle(title: str, model: str | None = None) -> str:
    """A figure's title as the page's subtitle: without the model (the page header names it) and
    without the layer and head, which the page shows live in its state line."""
    lines = title.split("\n")
    parts = " · ".join(lines[1:] if len(lines) > 1 else lines).split(" · ")
    kept = [p for p in parts if not p.startswith(("layer ", "head ")) and p != model]
    return " · ".join(kept)


def matrix_picture(
    kind: str,
    dpi: int,
    inspection: Inspection,
    matrix: np.ndarray,
    title: str,
    selection: tuple[int, HeadChoice],
    focus: int | None = None,
    rollout: bool = False,
    available: int | None = None,
    neurons: LayerNeurons | None = None,
    summed: bool = False,
) -> bytes:
    """`run`: the selected (Tq, Tk) view as a heatmap, or the page opened on that layer and head
    (with ``neurons``, one layer's vectors, for its neuron view). The heatmap shows the
    inspection's measure (``summed``: the norms' head mean, the norm of the sum over heads)."""
    layer, head = selection
    if kind == "html":
        page = render_page(
            [document(inspection, rollout=rollout, neurons=neurons)], inspection.model, layer, head,
            page_subtitle(title), focus,
        )  # fmt: skip
        return page.encode("utf-8")
    tokens, special, keys = inspection.tokens, inspection.special, key_axis(inspection)
    measure = inspection.measure
    return _figure(
        kind,
        dpi,
        lambda: matrix_figure(matrix, tokens, title, special, focus, False, keys, measure, summed),
        available,
    )


def heads_picture(
    kind: str,
    dpi: int,
    inspection: Inspection,
    scores: np.ndarray,
    title: str,
    best: tuple,
    available: int | None = None,
) -> bytes:
    """`heads`: the (L, H) scores as a heatmap, or the page opened on the best head."""
    if kind == "html":
        page = render_page(
            [document(inspection)], inspection.model, best[0], best[1], page_subtitle(title)
        )
        return page.encode("utf-8")
    label = f"{HEADS_LABELS.get(inspection.measure, inspection.measure)} (from → to)"
    measure = inspection.measure
    return _figure(kind, dpi, lambda: heads_figure(scores, title, label, measure), available)


def diff_picture(
    kind: str,
    dpi: int,
    pair: tuple[Inspection, Inspection],
    delta: tuple[np.ndarray, list[str], list[str]],
    title: str,
    selection: tuple[int, HeadChoice],
    available: int | None = None,
    texts: tuple[str, str] | None = None,
) -> bytes:
    """`diff`: A − B on a scale centred at 0, or a page holding both texts (named ``texts``,
    else by their own text)."""
    a, b = pair
    if kind == "html":
        text_a, text_b = texts or (a.text, b.text)
        documents = [document(a, f"A: {text_a}"), document(b, f"B: {text_b}")]
        return render_page(documents, a.model, *selection, page_subtitle(title)).encode("utf-8")
    matrix, rows, columns = delta
    return _figure(
        kind,
        dpi,
        lambda: matrix_figure(
            matrix, rows, title, diverging=True, columns=columns, measure=a.measure
        ),
        available,
    )


def grid_picture(
    kind: str,
    dpi: int,
    inspection: Inspection,
    chosen: tuple[list[int], list[int]],
    title: str,
    rollout: bool = False,
    available: int | None = None,
) -> bytes:
    """`grid`: small multiples of the chosen layers x heads (and head means), or the page; each
    panel shows the inspection's measure (the norms' mean panels: the norm of the sum)."""
    layers, heads = chosen
    if kind == "html":
        page_doc = document(inspection, layers=layers, heads=heads, rollout=rollout)
        subtitle = page_subtitle(title, inspection.model)
        return render_page([page_doc], inspection.model, layers[0], "mean", subtitle).encode()
    special = inspection.keys.special  # the terminal's panels: the same labels and means
    measure = inspection.measure
    panels = grid_panels(inspection.attention, layers, heads, special, rollout=rollout,
                         measure=measure, head_sum=inspection.head_sum)  # fmt: skip
    bands = [[(panel.label, panel.matrix) for panel in band] for band in panels]
    summed = inspection.head_sum is not None
    return _figure(kind, dpi, lambda: panels_figure(bands, title, measure, summed), available)
