"""The live page of a real `attninspect serve`, driven in Debian's chromium through Playwright:
type a sentence and press Enter, the state line and the head view follow; hostile text stays
text; head search and diff answer; no request leaves the server's origin."""

from __future__ import annotations

import pytest

XSS = "<img src=x onerror=alert(1)></script><script>alert(2)</script> it"
WAIT_MS = 120_000

pytestmark = pytest.mark.browser


@pytest.fixture
def live(browser, served):
    """The page, opened once with the token in its URL; every request and dialog recorded."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    seen = {"requests": [], "dialogs": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(served.url)
    page.wait_for_selector("#text")
    yield page, seen
    context.close()
    origin = served.base
    assert all(url.startswith(origin + "/") for url in seen["requests"]), seen["requests"]
    assert not seen["dialogs"] and not seen["errors"], seen


def _inspect(page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_function(
        "t => document.body.dataset.text === t && document.body.dataset.busy === '0'",
        arg=text, timeout=WAIT_MS,
    )  # fmt: skip


def _tokens(page) -> list[str]:
    return page.eval_on_selector_all(
        "#head-view text[data-side=from]", "nodes => nodes.map(n => n.firstChild.textContent)"
    )


def test_enter_inspects_a_new_text(live, served) -> None:
    page, _ = live
    assert page.url.startswith(served.base + "/")
    assert "token" not in page.url  # it came once, then the cookie
    assert page.text_content("#state") == "layer 5 · head mean"
    assert "cat" in _tokens(page)
    page.evaluate("location.hash = '#layer=2&head=4'")  # the page's own layer and head
    page.wait_for_function("document.getElementById('state').textContent === 'layer 2 · head 4'")
    _inspect(page, "A dog chased the ball across the park.")
    assert page.text_content("#state") == "layer 2 · head 4"
    tokens = _tokens(page)
    assert tokens[:3] == ["[CLS]", "a", "dog"] and "park" in tokens
    assert "#layer=2&head=4" in page.url
    assert page.text_content("#live-status").endswith(
        "tokens · sentence-transformers/all-MiniLM-L6-v2"
    )


def test_view_options_and_focus(live) -> None:
    page, _ = live
    page.check("#opt-words")
    page.check("#opt-hide-special")
    page.fill("#opt-focus", "it")
    _inspect(page, "The unbelievable cat sat because it was warm.")
    tokens = _tokens(page)
    assert "unbelievable" in tokens and "[CLS]" not in tokens
    assert "focus it" in page.text_content("#live-result")
    assert page.locator("#head-view text.active").count() == 1


def test_hostile_text_stays_text(live) -> None:
    page, seen = live
    _inspect(page, XSS)
    assert page.locator("img").count() == 0
    assert page.evaluate("document.scripts.length") == 4  # data, page, live settings, live
    assert XSS in page.text_content("#meta")
    assert page.input_value("#text") == XSS
    assert not seen["dialogs"]


def test_errors_show_as_one_line(live) -> None:
    page, _ = live
    page.fill("#opt-focus", "zebra")
    page.fill("#text", "The cat sat.")
    page.press("#text", "Enter")
    page.wait_for_selector("#live-status.error", timeout=WAIT_MS)
    assert page.text_content("#live-status").startswith("Error: --focus zebra is not a token")


def test_head_search_and_diff(live) -> None:
    page, _ = live
    page.fill("#text", "The cat sat on the mat because it was warm.")
    page.fill("#heads-from", "it")
    page.fill("#heads-to", "mat")
    page.click("#heads-search")
    page.wait_for_selector("#heads-result li a", timeout=WAIT_MS)
    first = page.locator("#heads-result li a").first
    href = first.get_attribute("href")
    first.click()
    layer, head = href.split("layer=")[1].split("&head=")
    page.wait_for_function(
        "s => document.getElementById('state').textContent === s",
        arg=f"layer {layer} · head {head}", timeout=WAIT_MS,
    )  # fmt: skip
    page.fill("#diff-b", "The dog sat on the mat because it was cold.")
    page.click("#diff-run")
    page.wait_for_selector("#diff-result li", timeout=WAIT_MS)
    assert page.locator("#doc option").count() == 2
    assert "paired tokens" in page.text_content("#live-result")
