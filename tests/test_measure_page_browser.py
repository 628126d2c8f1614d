"""Pages of scores and norms in a real browser (headless chromium through Playwright): a page
saved by ``run --measure scores|norms --save FILE.html`` names its measure in the state line and
the legends, shows each cell's real value on hover (the number `Inspector.run(..., measure=)`
gives, to the page's 8-bit step), leaves masked cells blank (no colour, no line, "masked" on
hover), and takes the norms' head mean as the norm of the sum over heads."""

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
LAYER, HEAD = 1, 2


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> dict[str, Path]:
    runner, folder = CliRunner(), tmp_path_factory.mktemp("measure-pages")
    saved = {}
    for name, model, measure in [("scores", "gpt2", "scores"), ("norms", "bert", "norms")]:
        path = folder / f"{name}.html"
        args = ["--model", str(tiny_models[model]), "--measure", measure, "--layer", str(LAYER)]
        result = runner.invoke(app, ["run", CAT, *args, "--save", str(path)])
        assert result.exit_code == 0, result.output
        saved[name] = path
    return saved


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    opened = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    opened.set_default_timeout(5000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    opened.close()
    assert errors == []


def _scale(path: Path) -> dict:
    found = re.search(r'id="attention-data">(.*?)</script>', path.read_text("utf-8"), re.S)
    assert found is not None
    return json.loads(found.group(1))["documents"][0]


def _hover(page: object, row: int, column: int, size: int) -> str:
    """Hover the middle of the matrix's cell (row, column): what the readout then says."""
    matrix = page.locator("#matrix")  # type: ignore[attr-defined]
    matrix.scroll_into_view_if_needed()
    box = matrix.bounding_box()
    matrix.hover(position={"x": (column + 0.5) * box["width"] / size,
                           "y": (row + 0.5) * box["height"] / size})  # fmt: skip
    return page.text_content("#readout") or ""  # type: ignore[attr-defined]


def _pixel(page: object, row: int, column: int) -> list[int]:
    """The matrix canvas's RGBA at one cell (one pixel a cell)."""
    return page.evaluate(  # type: ignore[attr-defined]
        "([r, c]) => [...document.getElementById('matrix').getContext('2d')"
        ".getImageData(c, r, 1, 1).data]",
        [row, column],
    )


def _shown(readout: str, noun: str) -> float:
    """The value in a readout ``a (1) → b (0): score -0.0123``."""
    tail = readout.rsplit(": ", 1)[1]
    assert tail.startswith(noun + " "), readout
    return float(tail.split(" ", 1)[1])


def _tolerance(shown_text: str, step: float) -> float:
    """What a shown value may be off by: half an 8-bit step, and the rounding of its digits."""
    decimals = len(shown_text.split(".")[1]) if "." in shown_text else 0
    return step / 2 + 0.5 * 10.0**-decimals + 1e-7


def test_a_scores_page_shows_each_cells_score_and_leaves_masked_cells_blank(
    page: object, pages: dict[str, Path], tiny_models
) -> None:
    page.goto(pages["scores"].as_uri() + f"#layer={LAYER}&head={HEAD}")  # type: ignore[attr-defined]
    assert page.text_content("#state") == f"layer {LAYER} · head {HEAD} · scores"  # type: ignore[attr-defined]
    found = Inspector(str(tiny_models["gpt2"])).run(CAT, measure="scores")
    expected = found.view(layer=LAYER, head=HEAD).matrix  # (T, T), NaN above the diagonal
    size = expected.shape[0]
    low, high = _scale(pages["scores"])["scale"][LAYER * 4 + HEAD]
    step = (high - low) / 254
    for row, column in [(3, 1), (size - 1, 0), (size - 1, size - 1), (5, 5)]:
        readout = _hover(page, row, column, size)
        value = _shown(readout, "score")
        assert abs(value - expected[row, column]) <= _tolerance(readout.rsplit(" ", 1)[1], step)
    assert _hover(page, 0, 3, size).endswith(": masked")
    assert _pixel(page, 0, 3)[3] == 0  # blank: nothing painted
    assert _pixel(page, 3, 1)[3] == 255
    legend = page.text_content("#matrix-legend") or ""  # type: ignore[attr-defined]
    assert "smallest → largest score; blank cells are masked" in legend
    finite = expected[np.isfinite(expected)]
    assert abs(float(page.text_content("#matrix-min")) - finite.min()) <= step  # type: ignore[attr-defined, arg-type]
    assert abs(float(page.text_content("#matrix-max")) - finite.max()) <= step  # type: ignore[attr-defined, arg-type]
    hints = page.text_content("main") or ""  # type: ignore[attr-defined]
    assert "opacity the score normalised to [0, 1]" in hints
    assert "Each cell is the attention score (pre-softmax logit)" in hints
    lines = page.evaluate("window.attninspectPage.headView()")  # type: ignore[attr-defined]
    pairs = [pair for head in lines for pair in head["pairs"]]
    assert pairs and all(key <= query for query, key in pairs)  # no line to a masked key


def test_a_norms_page_means_the_norm_of_the_sum_over_heads(
    page: object, pages: dict[str, Path], tiny_models
) -> None:
    page.goto(pages["norms"].as_uri())  # type: ignore[attr-defined]
    assert page.text_content("#state") == f"layer {LAYER} · head mean · norms"  # type: ignore[attr-defined]
    note = page.text_content("#mean-note") or ""  # type: ignore[attr-defined]
    assert "the norm of the sum over all 4 heads" in note
    found = Inspector(str(tiny_models["bert"])).run(CAT, measure="norms")
    summed = found.view(layer=LAYER, head="mean").matrix  # ‖Σ_h α f_h(x)‖
    size = summed.shape[0]
    low, high = _scale(pages["norms"])["mean_scale"][LAYER]
    for row, column in [(0, 0), (2, 4), (size - 1, 1)]:
        readout = _hover(page, row, column, size)
        value = _shown(readout, "norm")
        tolerance = _tolerance(readout.rsplit(" ", 1)[1], (high - low) / 254)
        assert abs(value - summed[row, column]) <= tolerance
        mean_of_norms = found.attention[LAYER, :, row, column].mean()
        assert abs(summed[row, column] - mean_of_norms) > 2 * tolerance or row == column == 0
    page.click("#heads button[data-head='1']")  # type: ignore[attr-defined]
    assert page.text_content("#state") == f"layer {LAYER} · head 1 · norms"  # type: ignore[attr-defined]
    readout = _hover(page, 2, 4, size)
    scale = _scale(pages["norms"])["scale"][LAYER * 4 + 1]
    tolerance = _tolerance(readout.rsplit(" ", 1)[1], (scale[1] - scale[0]) / 254)
    assert abs(_shown(readout, "norm") - found.attention[LAYER, 1, 2, 4]) <= tolerance
    legend = page.text_content("#matrix-legend") or ""  # type: ignore[attr-defined]
    assert "smallest → largest norm)" in legend and "masked" not in legend


def test_a_weights_page_keeps_its_words(page: object, tmp_path: Path) -> None:
    path = tmp_path / "weights.html"
    result = CliRunner().invoke(app, ["run", "The cat sat.", "--save", str(path)])
    assert result.exit_code == 0, result.output
    page.goto(path.as_uri())  # type: ignore[attr-defined]
    assert page.text_content("#state") == "layer 5 · head mean"  # type: ignore[attr-defined]
    legend = page.text_content("#matrix-legend") or ""  # type: ignore[attr-defined]
    assert legend.startswith("0 ") and legend.endswith("(this matrix's maximum)")
    hints = page.text_content("main") or ""  # type: ignore[attr-defined]
    assert "opacity is the weight" in hints and "hover a cell for its weight" in hints
    assert re.fullmatch(r".*: 0\.\d{3}", _hover(page, 1, 2, 6))
