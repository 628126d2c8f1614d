"""Golden renderings of `run` at a fixed width, without colour.

The inspections are synthetic (integer counts divided by row sums), so the goldens pin the
layout, not the digits of a model whose last bit depends on the CPU's kernels.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from attninspect.analysis.selection import build_view
from attninspect.analysis.token_selectors import parse_selector, resolve_selector
from attninspect.render.matrix import render_run
from tests.conftest import CAT, synthetic_inspection

GOLDEN = Path(__file__).parent / "golden"
LONG_TEXT = " ".join(f"word{n % 37} and" for n in range(100))  # 200 words


def render(text: str, focus: str | None = None, width: int = 100, **options) -> str:
    tokens = ["[CLS]", *text.lower().replace(".", " .").split(), "[SEP]"]
    inspection = synthetic_inspection(tokens, layers=6, heads=12, text=text)
    index = resolve_selector(parse_selector(focus), inspection.tokens) if focus else None
    view = build_view(
        inspection.attention,
        inspection.tokens,
        inspection.tokens,
        layer=5,
        head="mean",
        focus=index,
        top=5,
    )
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(render_run(inspection, view, console, **options))
    return console.file.getvalue()


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


def cell_widths(rendered: str) -> list[int]:
    from rich.cells import cell_len

    return [cell_len(line) for line in rendered.splitlines()]


def test_short_sentence() -> None:
    rendered = render(CAT)
    check_golden("cat.txt", rendered)
    assert "[CLS]" in rendered and "0 [CLS]" in rendered
    assert "left out" not in rendered


def test_focused_sentence() -> None:
    rendered = render(CAT, focus="it")
    check_golden("cat_focus_it.txt", rendered)
    assert "▶ 8 it" in rendered
    assert "what it (@8) attends to" in rendered


def test_windowed_200_token_text_fits_100_columns() -> None:
    rendered = render(LONG_TEXT, focus="@150")
    check_golden("long_focus_150.txt", rendered)
    assert max(cell_widths(rendered)) <= 100
    assert "left out" in rendered and "--full" in rendered
    assert "▶150" in rendered


@pytest.mark.parametrize("width", [60, 80, 120])
def test_matrix_never_overflows_the_width(width: int) -> None:
    rendered = render(LONG_TEXT, focus="@3", width=width)
    table_lines = [line for line in rendered.splitlines() if "0." in line and "word" in line]
    assert table_lines and max(cell_widths("\n".join(table_lines))) <= width
    assert "0.…" not in rendered  # cells are never cut


def test_window_and_full_options() -> None:
    assert "left out" in render(CAT, window_size=5)
    full = render(LONG_TEXT, full=True, width=2000)
    assert "left out" not in full


def test_precision_changes_digits() -> None:
    assert "0.0" in render(CAT, precision=3) and " 0.1" not in render(CAT, precision=0)


def drawn_cells(rendered: str) -> dict[tuple[int, int], str]:
    """Every weight of the matrix table(s) in ``rendered``, by (query, key) as drawn: the key
    indices from each header line, the cells from each row (gap marks left out)."""
    import re

    lines = rendered.splitlines()
    cells: dict[tuple[int, int], str] = {}
    for rule, line in enumerate(lines):
        if not line.startswith("───"):
            continue
        keys = [int(key) for key in lines[rule - 2].split() if key != "┆"]
        for row in lines[rule + 1 :]:
            match = re.match(r"^[▶ ]\s*(\d+) ", row)
            if match is None:
                break
            values = [value for value in row.split() if value != "┆"][-len(keys) :]
            cells.update({(int(match[1]), key): v for key, v in zip(keys, values, strict=True)})
    return cells


SINKS = "the animal did not cross the street because it was too tired ."


def sink_render(width: int = 80, **options) -> tuple[str, object]:
    """A 15-token text whose focus row (`it`, @9) puts its largest weights on [CLS] and on
    `animal`, far left of the focus; `run`'s table of it at ``width`` columns."""
    tokens = ["[CLS]", *SINKS.split(), "[SEP]"]
    inspection = synthetic_inspection(tokens, layers=6, heads=12, text=SINKS)
    attention = inspection.attention.copy()  # (L, H, T, T)
    attention[:, :, 9] = (1 - 0.48 - 0.2) / 13  # the row sums to 1
    attention[:, :, 9, 0], attention[:, :, 9, 2] = 0.48, 0.2
    inspection = synthetic_inspection(tokens, layers=6, heads=12, text=SINKS)
    object.__setattr__(inspection, "attention", attention)
    view = build_view(attention, tokens, tokens, layer=4, head="mean", focus=9, top=5)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(render_run(inspection, view, console, **options))
    return console.file.getvalue(), view


@pytest.mark.parametrize("width", [60, 80])
def test_a_window_keeps_the_focus_rows_top_keys_and_the_special_tokens(width: int) -> None:
    """Issue 20, item 14: at 80 columns the window around `it` used to drop [CLS] (0.48) and
    `animal`. Now the focus row's top keys and the special tokens stay in the window, with
    their numbers, and a gap mark shows where columns are left out."""
    rendered, view = sink_render(width)
    cells = drawn_cells(rendered)
    keys = {key for _, key in cells}
    assert len(keys) < 15  # windowed
    for entry in view.focus_top[:3]:
        assert cells[(9, entry.index)] == f"{entry.weight:.2f}"
    assert {0, 2} <= keys  # [CLS] and animal
    assert 14 in keys or width < 80  # [SEP], where the focus row's ties leave room
    assert cells[(9, 0)] == f"{view.matrix[9, 0]:.2f}" == "0.48"
    for (query, key), value in cells.items():
        assert value == f"{view.matrix[query, key]:.2f}"
    assert "┆" in rendered and "kept in sight" in rendered
    assert max(cell_widths(rendered.split("what it")[0])) <= width


def test_full_in_a_narrow_console_prints_column_blocks() -> None:
    """Issue 20, item 15: `--full` at 80 columns (a pipe) squeezed every cell to `0…`. Now the
    matrix comes in blocks of columns that fit, every weight readable, and a line says so."""
    text = " ".join(f"word{n}" for n in range(40))
    rendered = render(text, full=True, width=80)
    assert "0…" not in rendered and "blocks of columns" in rendered and "--format csv" in rendered
    assert max(cell_widths(rendered)) <= 80
    tokens = ["[CLS]", *text.split(), "[SEP]"]
    inspection = synthetic_inspection(tokens, layers=6, heads=12, text=text)
    matrix = inspection.attention[5].mean(axis=0)  # layer 5, head mean
    cells = drawn_cells(rendered)
    assert set(cells) == {(query, key) for query in range(42) for key in range(42)}
    for (query, key), value in cells.items():
        assert value == f"{matrix[query, key]:.2f}"
