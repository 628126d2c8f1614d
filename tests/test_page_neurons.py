"""The page's neuron view in a real browser (headless chromium through Playwright): a page saved
by ``run --save FILE.html`` opens, on a click on a row of the matrix or a query token of the head
view, the chosen head's query, keys, q⊙k, q·k, score and weight, the numbers `Inspector.neurons`
gives; it refuses the head mean and a layer whose vectors the page does not hold."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.cli.app import app
from tests.conftest import CAT

pytestmark = pytest.mark.browser
HOSTILE = "</script><img src=x onerror=alert(1)> it &amp; sat"


def _save(runner: CliRunner, path: Path, text: str, *extra: str) -> Path:
    result = runner.invoke(app, ["run", text, "--layer", "2", "--head", "3", *extra,
                                 "--save", str(path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> dict[str, Path]:
    runner, folder = CliRunner(), tmp_path_factory.mktemp("neuron-pages")
    return {
        "default": _save(runner, folder / "cat.html", CAT),
        "hostile": _save(runner, folder / "hostile.html", HOSTILE),
        "focus": _save(runner, folder / "focus.html", CAT, "--focus", "it"),
        "llama": _save(runner, folder / "llama.html", CAT, "--model", str(tiny_models["llama"])),
    }


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    opened = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    opened.set_default_timeout(5000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    yield opened
    opened.close()
    assert errors == []


def _click_row(page: object, row: int, rows: int) -> None:
    """A click in the middle of the matrix's row ``row`` (of ``rows``), as a person clicks."""
    matrix = page.locator("#matrix")  # type: ignore[attr-defined]
    matrix.scroll_into_view_if_needed()
    box = matrix.bounding_box()
    matrix.click(position={"x": box["width"] / 2, "y": (row + 0.5) * box["height"] / rows})


def _panel(page: object) -> list[list[str]]:
    """The neuron table's key rows as a person reads them: each cell's text."""
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#neuron-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _numbers(cells: list[str]) -> float:
    return float("nan") if cells == "" else float(cells)


def test_a_matrix_row_opens_the_neuron_view_with_the_right_numbers(
    page: object, pages: dict[str, Path]
) -> None:
    found = Inspector().neurons(CAT, focus="it", layer=2, head=3)
    page.goto(pages["default"].as_uri())  # type: ignore[attr-defined]
    assert "Click a row of the matrix" in page.text_content("#neurons")  # type: ignore[attr-defined]
    _click_row(page, found.focus, len(found.key_tokens))
    title = page.text_content("#neurons .neuron-title")  # type: ignore[attr-defined]
    assert title == f"layer 2 · head 3 · query it (@{found.focus})"
    rows = _panel(page)
    assert [row[0] for row in rows] == [f"{j} {t}" for j, t in enumerate(found.key_tokens)]
    for row, dot, score, weight in zip(rows, found.dots, found.scores, found.weights, strict=True):
        assert (row[3], row[4], row[5]) == (f"{dot:.2f}", f"{score:.2f}", f"{weight:.3f}")
    strips = page.eval_on_selector_all("#neuron-table canvas.strip", "c => c.map(x => x.width)")  # type: ignore[attr-defined]
    assert strips == [32] * (1 + 2 * len(found.key_tokens))  # q, then k and q⊙k per key
    # The query strip's colours: red where q > 0, blue where q < 0, as the terminal draws it.
    pixels = page.eval_on_selector(  # type: ignore[attr-defined]
        ".query-row canvas", "c => [...c.getContext('2d').getImageData(0, 0, c.width, 1).data]"
    )
    reds = np.array(pixels).reshape(-1, 4)
    big = np.abs(found.query) > 0.5 * np.abs(found.query).max()
    assert (reds[big & (found.query > 0), 0] > reds[big & (found.query > 0), 2]).all()
    assert (reds[big & (found.query < 0), 2] > reds[big & (found.query < 0), 0]).all()
    page.screenshot(path="/tmp/neuron_view.png", full_page=True)  # type: ignore[attr-defined]


def test_a_query_token_opens_it_and_the_view_follows_the_head(
    page: object, pages: dict[str, Path]
) -> None:
    inspector = Inspector()
    page.goto(pages["default"].as_uri())  # type: ignore[attr-defined]
    page.click("#head-view text[data-side=from][data-index='2']")  # type: ignore[attr-defined]
    token = inspector.run(CAT).tokens[2]
    assert page.text_content("#neurons .neuron-title") == f"layer 2 · head 3 · query {token} (@2)"  # type: ignore[attr-defined]
    page.dblclick("#heads button[data-head='5']")  # type: ignore[attr-defined]
    found = inspector.neurons(CAT, focus="@2", layer=2, head=5)
    assert [row[5] for row in _panel(page)] == [f"{w:.3f}" for w in found.weights]
    page.click("#heads button[data-head='mean']")  # type: ignore[attr-defined]
    assert "one head's" in page.text_content("#neurons .refusal")  # type: ignore[attr-defined]
    page.select_option("#layer", "1")  # type: ignore[attr-defined]
    assert "layer 2 only" in page.text_content("#neurons .refusal")  # type: ignore[attr-defined]


def test_a_focus_opens_its_neuron_view_at_once(page: object, pages: dict[str, Path]) -> None:
    page.goto(pages["focus"].as_uri())  # type: ignore[attr-defined]
    assert page.text_content("#neurons .neuron-title") == "layer 2 · head 3 · query it (@8)"  # type: ignore[attr-defined]


def test_grouped_keys_and_a_causal_mask(page: object, pages: dict[str, Path], tiny_models) -> None:
    found = Inspector(str(tiny_models["llama"])).neurons(CAT, focus="it", layer=2, head=3)
    page.goto(pages["llama"].as_uri())  # type: ignore[attr-defined]
    _click_row(page, found.focus, len(found.key_tokens))
    rows = _panel(page)
    later = [row for row in rows if int(row[0].split(" ")[0]) > found.focus]
    assert later and all(row[4] == row[5] == "" for row in later)  # masked: blank, as the terminal
    for row, score, weight in zip(rows, found.scores, found.weights, strict=True):
        assert row[4] == ("" if np.isnan(score) else f"{score:.2f}")
        assert row[5] == ("" if np.isnan(score) else f"{weight:.3f}")


def test_user_text_stays_text_and_nothing_is_fetched(page: object, pages: dict[str, Path]) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))  # type: ignore[attr-defined]
    page.goto(pages["hostile"].as_uri())  # type: ignore[attr-defined]
    tokens = Inspector().run(HOSTILE).tokens
    _click_row(page, 1, len(tokens))
    assert page.text_content("#neurons .neuron-title").endswith(f"query {tokens[1]} (@1)")  # type: ignore[attr-defined,union-attr]
    cells = [row[0] for row in _panel(page)]
    assert cells == [f"{j} {t}" for j, t in enumerate(tokens)]
    assert page.eval_on_selector_all("img, iframe, script[src]", "n => n.length") == 0  # type: ignore[attr-defined]
    assert requests == [pages["hostile"].as_uri()]


def test_the_saved_page_embeds_the_viewed_layers_vectors(pages: dict[str, Path]) -> None:
    text = pages["default"].read_text("utf-8")
    data = json.loads(re.search(r'id="attention-data">(.*?)</script>', text, re.S)[1])  # type: ignore[index]
    neurons = data["documents"][0]["neurons"]
    assert (neurons["layer"], neurons["size"], neurons["heads"], neurons["kv_heads"]) == (
        2,
        32,
        12,
        12,
    )
    assert neurons["mask"] == "none" and neurons["scale"] == pytest.approx(32**-0.5, rel=1e-6)
    assert "scores" not in neurons  # remade from q·k: the page stays small


def test_a_long_text_s_page_holds_no_vectors(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Above `PAGE_NEURON_TOKENS` the page holds no vectors (they would cost one more pass and
    (H, T, T) float64 arrays: 1.6 GB at 4,096 tokens); its panel says where to look instead."""
    from attninspect.api import neuron_pages

    monkeypatch.setattr(neuron_pages, "PAGE_NEURON_TOKENS", 12)  # CAT has 13 tokens
    page = _save(CliRunner(), tmp_path / "long.html", CAT).read_text("utf-8")
    assert '"neurons":' not in page and "attninspect run TEXT --neurons shows longer" in page
    monkeypatch.setattr(neuron_pages, "PAGE_NEURON_TOKENS", 13)
    assert '"neurons":' in _save(CliRunner(), tmp_path / "fits.html", CAT).read_text("utf-8")
