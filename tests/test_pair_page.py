"""The page of a sentence pair: bertviz's filter (all, A → A, A → B, B → A, B → B) narrows the
head view's lines to the pairs of texts it names. A real browser (Debian's chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def pair_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    from attninspect import Inspector
    from attninspect.render.pictures import matrix_picture

    inspection = Inspector().run("The cat sat.", pair="It was warm.")
    view = inspection.view(layer=0)
    page = matrix_picture("html", 80, inspection, view.matrix, "pair", (0, "mean"))
    path = tmp_path_factory.mktemp("pair-page") / "pair.html"
    path.write_bytes(page)
    assert inspection.pair_start is not None
    return path, inspection.pair_start, inspection.length


def _lines(page) -> list[tuple[int, int]]:
    """The (query, key) pairs the head view drew (every head shown)."""
    drawn = page.evaluate("window.attninspectPage.headView()")
    return [tuple(pair) for head in drawn for pair in head["pairs"]]


@pytest.mark.browser
def test_pair_filter_narrows_the_head_view(browser, pair_page) -> None:
    from tests.test_page_browser import Watched

    path, start, length = pair_page
    watched = Watched(browser)
    page = watched.page
    page.goto(path.as_uri())
    assert page.is_visible("#pair-label")
    everything = _lines(page)
    assert {q for q, _ in everything} == set(range(length))  # every query row has lines
    side = {i: "A" if i < start else "B" for i in range(length)}
    counts = 0
    for choice in ("AA", "AB", "BA", "BB"):
        page.select_option("#pair", choice)
        shown = _lines(page)
        assert shown and all(side[q] + side[k] == choice for q, k in shown)
        counts += len(shown)
    assert counts == len(everything)
    page.select_option("#pair", "all")
    assert len(_lines(page)) == len(everything)
    assert not watched.errors


@pytest.mark.browser
def test_no_filter_without_a_pair(browser, tmp_path: Path) -> None:
    from attninspect import Inspector
    from attninspect.render.pictures import matrix_picture
    from tests.test_page_browser import Watched

    inspection = Inspector().run("The cat sat.")
    page_bytes = matrix_picture(
        "html", 80, inspection, inspection.view().matrix, "one", (5, "mean")
    )
    path = tmp_path / "one.html"
    path.write_bytes(page_bytes)
    watched = Watched(browser)
    watched.page.goto(path.as_uri())
    assert not watched.page.is_visible("#pair-label")
