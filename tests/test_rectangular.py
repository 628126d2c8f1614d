"""Attention with two token axes: every output of a synthetic cross-attention result (5 target
tokens attending to 7 source tokens, 2 layers x 3 heads), pinned by goldens or read back.

Rows are queries (the target), columns keys (the source); nothing here may assume Tq = Tk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from attninspect.analysis.pipeline import ViewOptions, view_of
from tests.conftest import synthetic_cross_inspection
from tests.explorer_helpers import expected_cells, shown_cells
from tests.test_rendering import check_golden

TARGET = ["<s>", "▁Le", "▁chat", "▁dort", "</s>"]
SOURCE = ["[CLS]", "▁The", "▁cat", "▁sle", "eps", ".", "</s>"]
LAYERS, HEADS = 2, 3


@pytest.fixture(scope="module")
def cross():
    return synthetic_cross_inspection(TARGET, SOURCE, LAYERS, HEADS)


def shown_view(inspection, **options):
    return view_of(inspection, ViewOptions.parse(**options))


def console(width: int = 100) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None)


def test_the_synthetic_result_is_rectangular(cross) -> None:
    assert cross.attention.shape == (LAYERS, HEADS, len(TARGET), len(SOURCE))
    assert (cross.query_tokens, cross.key_tokens) == (TARGET, SOURCE)
    assert cross.sides == ("target", "source") and not cross.square
    assert cross.side_tokens() == {"source": SOURCE, "target": TARGET}


# --------------------------------------------------------------------------- terminal


def test_table_golden(cross) -> None:
    from attninspect.render.matrix import render_run

    shown, view = shown_view(cross, layer=1, head="mean", focus="▁chat", stats=True)
    out = console()
    out.print(render_run(shown, view, out))
    rendered = out.file.getvalue()
    check_golden("cross_table.txt", rendered)
    assert "rows: target (query) · columns: source (key)" in rendered
    assert "target tokens (5)" in rendered and "source tokens (7)" in rendered
    header = next(line for line in rendered.splitlines() if "▁The" in line and "eps" in line)
    assert "▁Le" not in header  # the columns are the source tokens
    assert "▶2 ▁chat" in rendered
    top = view.focus_top[0]
    assert "what ▁chat (@2) attends to" in rendered and SOURCE[top.index] in rendered
    stats_rows = [line for line in rendered.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert any("–" in line for line in stats_rows)  # previous/same/next have no meaning here


def test_table_windows_rows_and_columns_apart(cross) -> None:
    from attninspect.render.matrix import render_run

    shown, view = shown_view(cross, layer=0, head=1, focus="▁dort")
    out = console()
    out.print(render_run(shown, view, out, window_size=3))
    rendered = out.file.getvalue()
    check_golden("cross_table_window3.txt", rendered)
    assert "showing rows 2..4 of 0..4 and columns" in rendered
    assert "(2 rows and 4 columns left out" in rendered
    centre = view.focus_top[0].index  # the columns follow the key the focus attends to most
    assert f"{SOURCE[centre][:4]}" in rendered.split("────")[0]


def test_grid_golden(cross) -> None:
    from attninspect.render.grid import write_grid

    out = console()
    write_grid(out, cross, ([0, 1], [0, 1, 2]), color=False)
    rendered = out.file.getvalue()
    check_golden("cross_grid.txt", rendered)
    assert "5 target × 7 source tokens (cross attention)" in rendered
    assert "5 query × 7 key tokens, a cell each" in rendered
    heatmap = [line for line in rendered.splitlines() if line.startswith("│")]
    assert len(heatmap) == 3  # 5 query rows, two a line
    # each panel: 7 key columns in a frame, panels 2 apart
    assert [heatmap[0][x] for x in (0, 8, 11, 19)] == ["│"] * 4


def test_grid_panels_are_tq_by_tk(cross) -> None:
    from attninspect.render.grid import grid_panels

    bands = grid_panels(cross.attention, [0, 1], [0, 1, 2], cross.keys.special)
    assert [len(band) for band in bands] == [4, 4]
    assert all(panel.matrix.shape == (5, 7) for band in bands for panel in band)
    special = np.array(cross.keys.special)
    expected = float(cross.attention[1, 2][:, special].sum(-1).mean())
    assert bands[1][2].sink == pytest.approx(expected)


def test_heads_table_names_a_query_and_a_key(cross) -> None:
    from attninspect.analysis.head_ranking import HeadSearch, rank_heads
    from attninspect.render.heads_table import heads_table

    search = HeadSearch(cross, 2, 4, rank_heads(cross.attention, 2, 4))
    out = console()
    out.print(heads_table(search, 3, color=False))
    rendered = out.file.getvalue()
    assert "which heads link ▁chat (@2) to eps (@4)" in rendered
    assert "cross attention: target → source" in rendered
    assert search.scores[0].weight == pytest.approx(float(cross.attention[:, :, 2, 4].max()))


def test_diff_table_pairs_rows_and_columns_apart(cross) -> None:
    from attninspect.render.diff_table import diff_table
    from tests.oracles import compare_texts

    other = synthetic_cross_inspection(TARGET, [*SOURCE[:5], "!", "</s>"], LAYERS, HEADS, seed=4)
    diff = compare_texts(cross, other, ViewOptions.parse(layer=1, focus="▁chat"))
    assert diff.paired.shape == (5, 7) and diff.key_alignment is not None
    out = console()
    out.print(diff_table(diff, out, 2, full=False))
    rendered = out.file.getvalue()
    assert "./!" in rendered  # the one key token the texts do not share
    assert "what ▁chat attends to in A (@2) and B (@2)" in rendered
    from attninspect.files.records import diff_rows

    rows = list(diff_rows(diff))
    assert len(rows) == 5 * 7
    assert {row[7] for row in rows} == set(SOURCE)  # key_token: the source side


# --------------------------------------------------------------------------- pictures


def test_png_is_target_rows_by_source_columns(cross, tmp_path: Path) -> None:
    from attninspect.render.figures import matrix_figure
    from attninspect.render.pictures import key_axis, matrix_picture

    shown, view = shown_view(cross, layer=1, focus="▁chat")
    figure = matrix_figure(view.matrix, shown.tokens, "cross", shown.special, view.focus,
                           columns=key_axis(shown))  # fmt: skip
    axes = figure.axes[0]
    assert axes.images[0].get_array().shape == (5, 7)
    assert [t.get_text() for t in axes.get_yticklabels()] == TARGET
    assert [t.get_text() for t in axes.get_xticklabels()] == SOURCE
    assert axes.get_ylabel() == "target (query, from)"
    assert axes.get_xlabel() == "source (key, to)"
    width, height = figure.get_size_inches()
    assert width > height  # more keys than queries
    png = matrix_picture("png", 80, shown, view.matrix, "synthetic\ncross", (1, "mean"), 2)
    assert png.startswith(b"\x89PNG")
    (tmp_path / "cross.png").write_bytes(png)
    svg = matrix_picture("svg", 80, shown, view.matrix, "synthetic\ncross", (1, "mean"), 2)
    assert b"\xe2\x96\x81dort" in svg and b"eps" in svg  # tick labels stay text


def test_page_document_carries_both_axes(cross) -> None:
    from attninspect.render.html_page import _document_json
    from attninspect.render.pictures import document

    data = _document_json(document(cross))
    assert data["tokens"] == TARGET and data["key_tokens"] == SOURCE
    assert data["kind"] == "cross" and data["sides"] == ["target", "source"]
    import base64

    assert len(base64.b64decode(data["weights"])) == LAYERS * HEADS * 5 * 7


# --------------------------------------------------------------------------- data


def test_json_record_has_both_axes(cross) -> None:
    from attninspect.files.records import run_record

    shown, view = shown_view(cross, layer=1, focus="▁chat")
    record = json.loads(json.dumps(run_record(shown, view, all_layers=True)))
    assert record["attention_kind"] == "cross"
    assert record["tokens"] == record["query_tokens"] == TARGET
    assert record["key_tokens"] == SOURCE
    assert (record["source_tokens"], record["target_tokens"]) == (SOURCE, TARGET)
    assert np.array(record["attention"]).shape == (5, 7)
    assert np.array(record["all_attention"]).shape == (LAYERS, HEADS, 5, 7)
    assert record["shapes"]["attention"] == [LAYERS, HEADS, 5, 7]
    top = record["focus"]["top"][0]
    assert top["token"] == SOURCE[top["index"]]


def test_self_attention_records_name_one_axis_twice() -> None:
    from attninspect.files.records import run_record
    from tests.conftest import synthetic_inspection

    inspection = synthetic_inspection(["[CLS]", "a", "b", "[SEP]"], 1, 2)
    record = run_record(*shown_view(inspection, layer=0))
    assert record["attention_kind"] == "self"
    assert record["query_tokens"] == record["key_tokens"] == record["tokens"]
    assert "source_tokens" not in record and "key_special" not in record


def test_csv_rows_take_key_tokens_from_the_key_axis(cross) -> None:
    from attninspect.files.records import CSV_COLUMNS, RunResult
    from attninspect.files.writers import CsvWriter

    stream = io.StringIO()
    writer = CsvWriter(stream)
    writer.write(RunResult(*shown_view(cross, layer=0, head=1)))
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 5 * 7
    assert {row["query_token"] for row in rows} == set(TARGET)
    assert [row["key_token"] for row in rows[:7]] == SOURCE
    cell = rows[2 * 7 + 4]
    assert (cell["query_token"], cell["key_token"]) == ("▁chat", "eps")
    assert float(cell["weight"]) == pytest.approx(float(cross.attention[0, 1, 2, 4]))


def test_npz_holds_rectangular_arrays(cross) -> None:
    from attninspect.files.records import RunResult
    from attninspect.files.writers import NpzWriter

    stream = io.BytesIO()
    writer = NpzWriter(stream)
    writer.write(RunResult(*shown_view(cross)))
    writer.close()
    arrays = np.load(io.BytesIO(stream.getvalue()), allow_pickle=False)
    assert arrays["attention_0"].shape == (LAYERS, HEADS, 5, 7)
    assert list(arrays["tokens_0"]) == TARGET and list(arrays["key_tokens_0"]) == SOURCE
    assert list(arrays["source_tokens_0"]) == SOURCE and list(arrays["target_tokens_0"]) == TARGET
    assert arrays["cross_attention_0"].shape == (LAYERS, HEADS, 5, 7)
    assert arrays["encoder_attention_0"].shape == (LAYERS, HEADS, 7, 7)
    assert arrays["decoder_attention_0"].shape == (LAYERS, HEADS, 5, 5)


# --------------------------------------------------------------------------- explorer


class CrossInspector:
    """The explorer's inspector, answering every sentence with the synthetic cross result."""

    num_layers, num_heads, model_name = LAYERS, HEADS, "synthetic"

    def run(self, text: str):
        return synthetic_cross_inspection(TARGET, SOURCE, LAYERS, HEADS)


def explore(keys: list[str], check, size: tuple[int, int] = (100, 30)) -> None:
    from attninspect.explorer.app import ExplorerApp

    async def drive() -> None:
        app = ExplorerApp(lambda: CrossInspector(), "Le chat dort")
        async with app.run_test(size=size) as pilot:
            await app.wait_until_loaded()
            await app.workers.wait_for_complete()
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            await check(app, pilot)

    # A thread of its own: a session's Playwright browser may hold this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drive()).result()


def assert_cells_are_the_view(app) -> None:
    view = app.inspection.view(**app.state.view_options())
    assert view.matrix.shape == (5, 7)
    shown, cells = shown_cells(app)
    assert cells == expected_cells(view, shown)


def test_explorer_draws_the_rectangle(cross) -> None:
    async def check(app, pilot) -> None:
        matrix = app.query_one("#matrix")
        assert list(matrix.window.shown) == list(range(5))
        assert list(matrix.window.keys) == list(range(7))
        assert_cells_are_the_view(app)
        assert "tgt↓src→" in matrix.plain
        tokens = app.query_one("#tokens").text.plain
        assert "target (5)" in tokens and "source (7)" in tokens
        await pilot.press("j", "j", "enter")  # the focus is a query row
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.current[1].focus == 2 and app.state.focus is not None
        focus = app.query_one("#focus").render()
        assert "what ▁chat (@2) attends to" in str(focus)
        assert_cells_are_the_view(app)

    explore(["up", "right", "right", "right"], check)


def test_explorer_windows_rows_and_columns_apart() -> None:
    async def check(app, pilot) -> None:
        matrix = app.query_one("#matrix")
        assert matrix.window.columns < 7 and matrix.window.size == 5
        assert_cells_are_the_view(app)
        note = app.query_one("#note").text.plain
        assert "5 rows × 7 columns" in note

    explore([], check, size=(40, 30))


def test_explorer_model_view_and_rollout(cross) -> None:
    async def check(app, pilot) -> None:
        await pilot.press("r")  # rollout needs self-attention: a warning, no change
        await pilot.pause()
        assert app.state.rollout is False
        await pilot.press("g")
        await pilot.pause()
        grid = app.screen.query_one("#model-grid")
        assert all(p.matrix.shape == (5, 7) for band in grid.bands for p in band)
        assert len(grid.bands) == LAYERS and len(grid.bands[0]) == HEADS

    explore([], check)


# --------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def cross_page(cross, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from attninspect.render.pictures import matrix_picture

    shown, view = shown_view(cross, layer=1)
    page = matrix_picture("html", 80, shown, view.matrix, "synthetic\ncross", (1, "mean"))
    path = tmp_path_factory.mktemp("cross-page") / "cross.html"
    path.write_bytes(page)
    return path


def _texts(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent)")


@pytest.mark.browser
def test_page_draws_queries_left_and_keys_right(
    browser,
    cross_page: Path,
    tmp_path: Path,
) -> None:
    from tests.test_page_browser import Watched

    watched = Watched(browser)
    page = watched.page
    page.goto(cross_page.as_uri())
    assert watched.state() == "layer 1 · head mean"
    assert _texts(page, "#head-view text[data-side=from] title") == TARGET
    assert _texts(page, "#head-view text[data-side=to] title") == SOURCE
    assert _texts(page, "#head-view text.side") == ["target (query)", "source (key)"]
    xs = page.eval_on_selector_all(
        "#head-view text[data-side]",
        "ns => [...new Set(ns.map(n => n.dataset.side + n.getAttribute('x')))]",
    )
    assert sorted(xs) == ["from160", "to360"]
    assert "cross attention: target (query) → source (key)" in (page.text_content("#meta") or "")
    size = "c => [c.width, c.height]"
    assert page.eval_on_selector("#matrix", size) == [7, 5]
    thumbnails = page.eval_on_selector_all("#model-view canvas", f"cs => cs.map({size})")
    assert thumbnails == [[7, 5]] * (LAYERS * (HEADS + 1))
    everything = int(page.get_attribute("#head-view", "data-lines") or 0)
    assert 0 < everything <= 5 * 7
    page.hover("#head-view text[data-side=to][data-index='6']")  # one key: lines from 5 queries
    assert 0 < int(page.get_attribute("#head-view", "data-lines") or 0) <= 5
    page.hover("#matrix", position={"x": 3, "y": 3})
    assert (page.text_content("#readout") or "").startswith("<s> (0) → [CLS] (0): 0.")
    page.goto(cross_page.as_uri() + "#layer=0&head=2")
    assert watched.state() == "layer 0 · head 2"
    page.screenshot(path=str(tmp_path / "cross-page.png"), full_page=True)
    assert watched.errors == [] and watched.dialogs == []
    assert watched.requests == [cross_page.as_uri()]
    page.close()
