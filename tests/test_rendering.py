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
