"""The live page of a real `attninspect serve` in Debian's chromium (Playwright): the measure
control asks for scores or norms and the page names them, with the numbers of a local run and
masked scores blank; a click on a row opens the neuron view with the numbers
`Inspector.neurons` gives, on the first page and on every text inspected after it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from conftest import CAT

from attninspect import Inspector

WAIT_MS = 120_000
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def causal(tiny_models) -> Iterator[object]:
    """A second server, on a tiny GPT-2 (a causal mask: masked scores), for this module."""
    from serve_helpers import serve

    with serve("--model", str(tiny_models["gpt2"]), "--threads", "1") as server:
        yield server


def _open(browser, server) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    page.goto(server.url)
    page.wait_for_selector("#text")
    yield page
    context.close()
    assert errors == []


@pytest.fixture
def live(browser, served) -> Iterator[object]:
    yield from _open(browser, served)


@pytest.fixture
def live_causal(browser, causal) -> Iterator[object]:
    yield from _open(browser, causal)


def _inspect(page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_function(
        "t => document.body.dataset.text === t && document.body.dataset.busy === '0'",
        arg=text, timeout=WAIT_MS,
    )  # fmt: skip


def _measured(page) -> np.ndarray:
    """The measured table's cells: their exact values, NaN where a cell is blank."""
    cells = page.eval_on_selector_all(
        "#measured tr",
        "rows => rows.slice(1).map(r => [...r.querySelectorAll('td')].map(c => "
        "c.textContent === '' ? null : [c.textContent, Number(c.dataset.value)]))",
    )
    for row in cells:
        for cell in row:
            assert cell is None or abs(float(cell[0]) - cell[1]) <= 0.0051  # shown to 2 places
    return np.array([[np.nan if c is None else c[1] for c in row] for row in cells], np.float32)


def _click_row(page, row: int, rows: int) -> None:
    matrix = page.locator("#matrix")
    matrix.scroll_into_view_if_needed()
    box = matrix.bounding_box()
    matrix.click(position={"x": box["width"] / 2, "y": (row + 0.5) * box["height"] / rows})


def _panel(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#neuron-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _same_panel(page, found) -> None:
    """The neuron table shows ``found`` (an `Inspector.neurons` result) as the page prints it."""
    rows = _panel(page)
    assert [row[0] for row in rows] == [f"{j} {t}" for j, t in enumerate(found.key_tokens)]
    for row, dot, score, weight in zip(rows, found.dots, found.scores, found.weights, strict=True):
        if np.isnan(score):  # masked: blank
            assert (row[4], row[5]) == ("", "")
            continue
        assert (row[3], row[4], row[5]) == (f"{dot:.2f}", f"{score:.2f}", f"{weight:.3f}")


def test_the_measure_control_asks_for_scores_and_names_them(live) -> None:
    page = live
    page.evaluate("location.hash = '#layer=2&head=3'")
    page.wait_for_function("document.getElementById('state').textContent === 'layer 2 · head 3'")
    page.select_option("#opt-measure", "scores")
    _inspect(page, CAT)
    assert page.get_attribute("body", "data-measure") == "scores"
    assert page.text_content("#live-status").endswith(" · scores")
    caption = page.text_content("#measured caption")
    assert caption == "scores before the softmax (blank: masked), layer 2 · head 3"
    assert "scores before the softmax" in page.text_content("#meta")
    expected = Inspector().run(CAT, measure="scores").view(layer=2, head=3).matrix
    np.testing.assert_array_equal(_measured(page), expected)
    page.select_option("#opt-measure", "norms")
    page.check("#opt-rollout")
    page.evaluate("location.hash = '#layer=2&head=mean'")
    page.press("#text", "Enter")
    page.wait_for_selector("#live-status.error", timeout=WAIT_MS)
    assert page.text_content("#live-status").startswith(
        "Error: measure: rollout multiplies attention weights layer by layer"
    )
    page.uncheck("#opt-rollout")
    _inspect(page, "A dog chased the ball.")
    assert page.text_content("#measured caption") == (
        "norms ‖α f(x)‖ (Kobayashi et al. 2020), layer 2 · head mean (‖Σ_h α f(x)‖)"
    )
    expected = Inspector().run("A dog chased the ball.", measure="norms").view(layer=2).matrix
    np.testing.assert_array_equal(_measured(page), expected)
    page.select_option("#opt-measure", "weights")
    _inspect(page, CAT)
    assert page.locator("#measured").count() == 0
    assert page.get_attribute("body", "data-measure") == "weights"


def test_masked_scores_are_blank(live_causal, tiny_models) -> None:
    page = live_causal
    page.select_option("#opt-measure", "scores")
    _inspect(page, CAT)
    expected = Inspector(str(tiny_models["gpt2"])).run(CAT, measure="scores").view().matrix
    got = _measured(page)
    np.testing.assert_array_equal(got, expected)  # NaN (blank) exactly where masked
    assert np.isnan(got).sum() == len(got) * (len(got) - 1) // 2  # every key after its query
    masked = page.eval_on_selector_all(
        "#measured td[data-masked]", "c => c.map(x => x.textContent)"
    )
    assert masked and set(masked) == {""}


def test_the_first_page_opens_the_neuron_view(live) -> None:
    from attninspect.server.service import PAGE_TEXT

    page = live
    page.evaluate("location.hash = '#layer=5&head=1'")
    page.wait_for_function("document.getElementById('state').textContent === 'layer 5 · head 1'")
    found = Inspector().neurons(PAGE_TEXT, focus="it", layer=5, head=1)
    _click_row(page, found.focus, len(found.key_tokens))
    assert (
        page.text_content("#neurons .neuron-title")
        == f"layer 5 · head 1 · query it (@{found.focus})"
    )
    _same_panel(page, found)


def test_each_inspected_text_brings_the_vectors_of_its_layer(live) -> None:
    text = "A dog chased the ball because it was fast."
    page = live
    page.evaluate("location.hash = '#layer=2&head=3'")
    page.wait_for_function("document.getElementById('state').textContent === 'layer 2 · head 3'")
    _inspect(page, text)
    found = Inspector().neurons(text, focus="it", layer=2, head=3)
    _click_row(page, found.focus, len(found.key_tokens))
    assert (
        page.text_content("#neurons .neuron-title")
        == f"layer 2 · head 3 · query it (@{found.focus})"
    )
    _same_panel(page, found)
    page.dblclick("#heads button[data-head='7']")  # another head of the same layer
    _same_panel(page, Inspector().neurons(text, focus="it", layer=2, head=7))


def test_a_causal_models_neuron_view_blanks_what_the_mask_hides(live_causal, tiny_models) -> None:
    page = live_causal
    page.evaluate("location.hash = '#layer=1&head=2'")
    page.wait_for_function("document.getElementById('state').textContent === 'layer 1 · head 2'")
    _inspect(page, CAT)
    found = Inspector(str(tiny_models["gpt2"])).neurons(CAT, focus="cat", layer=1, head=2)
    _click_row(page, found.focus, len(found.key_tokens))
    _same_panel(page, found)
    assert any(row[4] == "" for row in _panel(page))
