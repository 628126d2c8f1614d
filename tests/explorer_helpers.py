"""Helpers for the explorer's tests: a fake inspector with made-up numbers, and screen readers."""

from __future__ import annotations

import numpy as np

from tests.conftest import synthetic_inspection


class FakeInspector:
    """What the explorer needs of an `Inspector`, with synthetic attention (2 layers, 3 heads):
    numbers that are the same on every machine, for snapshots."""

    num_layers, num_heads, model_name = 2, 3, "synthetic"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, text: str):
        self.runs += 1
        tokens = ["[CLS]", *text.lower().replace(".", " .").split(), "[SEP]"]
        return synthetic_inspection(tokens, self.num_layers, self.num_heads, text=text)

    def diff(self, text_a: str, text_b: str, options):
        from tests.oracles import compare_texts

        return compare_texts(self.run(text_a), self.run(text_b), options)


def shown_cells(app) -> tuple[tuple[list[int], list[int]], list[list[str]]]:
    """The query and key indices and the weights as drawn in the matrix widget."""
    from attninspect.explorer.panels import HEADER_LINES
    from attninspect.explorer.widgets import MatrixView
    from attninspect.render.matrix import GAP_MARK

    matrix = app.query_one(MatrixView)
    lines = matrix.plain.splitlines()
    columns = matrix.window.columns
    shown = (list(matrix.window.shown), list(matrix.window.keys))
    drawn = [int(key) for key in lines[0].split() if key != GAP_MARK]  # the key indices, as drawn
    assert drawn == shown[1]
    cells = [[cell for cell in line.split() if cell != GAP_MARK] for line in lines[HEADER_LINES:]]
    return shown, [line[-columns:] for line in cells]


def expected_cells(view, shown: tuple[list[int], list[int]]) -> list[list[str]]:
    """What the window of ``view.matrix`` should read, two decimals a cell."""
    window = np.asarray(view.matrix)[np.ix_(*shown)]
    return [[f"{value:.2f}" for value in row] for row in window]


def status(app) -> str:
    return app.query_one("#status").text.plain
