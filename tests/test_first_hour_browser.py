"""Issue 28's first-time user's hour in a real browser (items 10 and 12): a saved page pins
its focus token; the live page has one layer and head control, and its diff draws A − B."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_a_saved_page_pins_the_focus_token(runner, browser, tmp_path) -> None:
    """`run --focus it --save x.html`: the page opens with `it`'s row pinned (its label marked,
    only its lines drawn), as the PNG and the live page mark it."""
    from attninspect.cli.app import app
    from tests.conftest import CAT

    pages = {}
    for name, focus in (("focus", ["--focus", "it"]), ("plain", [])):
        path = tmp_path / f"{name}.html"
        result = runner.invoke(app, ["run", CAT, *focus, "--save", str(path)])
        assert result.exit_code == 0, result.stderr
        pages[name] = path
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.goto(pages["plain"].as_uri())
        everything = int(page.get_attribute("#head-view", "data-lines") or 0)
        assert page.eval_on_selector_all("#head-view text.active", "n => n.length") == 0
        page.goto(pages["focus"].as_uri())
        active = page.eval_on_selector_all(
            "#head-view text.active", "n => n.map(t => [t.dataset.side, t.dataset.index])"
        )
        assert active == [["from", "8"]]  # [CLS] the cat sat on the mat because it: @8
        pinned = int(page.get_attribute("#head-view", "data-lines") or 0)
        assert 0 < pinned < everything
    finally:
        page.close()


# ------------------------------------------------------------------ 12: the live page


@pytest.fixture
def live_page(browser, served):
    """The live page of the session's `attninspect serve`, opened once (test_serve_page's)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served.url)
    page.wait_for_selector("#text")
    yield page
    context.close()
    assert not errors, errors


def test_the_live_page_has_one_layer_and_head_control(live_page) -> None:
    """One layer control and one head control, and what they show is what is inspected: no
    second pair of boxes reading `-1` and `mean` beside the page's `5`."""
    from tests.test_serve_page import _inspect

    page = live_page
    layer_controls = page.eval_on_selector_all(
        "input, select", "n => n.filter(e => /layer/i.test(e.id + (e.labels[0]||{}).textContent))"
        ".map(e => e.id)",
    )  # fmt: skip
    assert layer_controls == ["layer"], layer_controls
    assert page.locator("#opt-head").count() == 0
    page.select_option("#layer", index=3)  # the page's own controls
    page.evaluate("location.hash = location.hash.replace(/head=[^&]*/, 'head=1')")
    page.wait_for_function("document.getElementById('state').textContent === 'layer 3 · head 1'")
    _inspect(page, "A dog chased the ball.")
    assert page.text_content("#state") == "layer 3 · head 1"
    assert (
        page.eval_on_selector("#layer", "s => s.options[s.selectedIndex].textContent").strip()
        == "3"
    )


def test_the_live_diff_shows_a_minus_b(live_page, served) -> None:
    """The live page's diff draws A − B (the `diff --format json` delta), not A's own matrix."""
    import json

    page = live_page
    a, b = "The cat sat on the mat.", "The dog sat on the mat."
    page.fill("#text", a)
    page.fill("#diff-b", b)
    page.click("#diff-run")
    page.wait_for_selector("#diff-matrix td", timeout=120_000)
    cells = "r => [...r.querySelectorAll('td')].map(c => Number(c.dataset.delta))"
    drawn = page.eval_on_selector_all("#diff-matrix tr", f"rows => rows.slice(1).map({cells})")
    status, _, body = served.request("POST", "/api/diff", {"a": a, "b": b})
    assert status == 200
    expected = json.loads(body)["delta"]
    assert drawn == expected
    assert any(value != 0 for row in drawn for value in row)
    labels = page.eval_on_selector_all(
        "#diff-matrix th[scope=row]", "n => n.map(e => e.textContent)"
    )
    assert "cat/dog" in labels
