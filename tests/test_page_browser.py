"""The HTML page in a real browser: Debian's chromium, headless, driven by Playwright.

Nothing here downloads a browser: Playwright is pointed at the system chromium (the Makefile's
test target installs it when missing). One browser serves the whole session.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attninspect.render.html_page import PageDocument, render_page, script_json

HOSTILE = [
    "[CLS]",
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "&amp;",
    "line\u2028break",
    "cat",
    "[SEP]",
]

pytestmark = pytest.mark.browser


def _attention(layers: int, heads: int, length: int) -> np.ndarray:
    weights = np.random.default_rng(1).random((layers, heads, length, length)) ** 4
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    special = [True] + [False] * (len(HOSTILE) - 2) + [True]
    document = PageDocument("<b>bold</b> text", HOSTILE, special, _attention(3, 4, len(HOSTILE)))
    path = tmp_path_factory.mktemp("page") / "page.html"
    path.write_text(render_page([document], "tiny <model>", layer=2, head="mean"), "utf-8")
    return path


class Watched:
    """A page with every request, dialog and script error recorded."""

    def __init__(self, browser: object) -> None:
        self.page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def state(self) -> str:
        return self.page.text_content("#state") or ""

    def lines(self) -> str:
        """The head view's lines as drawn: its canvas's pixels."""
        return self.page.eval_on_selector("#head-view canvas", "c => c.toDataURL()")


@pytest.fixture
def watched(browser: object) -> Iterator[Watched]:
    watched = Watched(browser)
    yield watched
    watched.page.close()


def test_page_renders_every_token_and_runs_nothing_injected(
    watched: Watched, page_file: Path
) -> None:
    watched.page.goto(page_file.as_uri())
    assert watched.state() == "layer 2 · head mean"
    labels = watched.page.eval_on_selector_all(
        "#head-view text[data-side=from] title", "nodes => nodes.map(n => n.textContent)"
    )
    assert labels == HOSTILE
    assert watched.page.eval_on_selector_all("img, iframe, script[src]", "n => n.length") == 0
    assert watched.page.evaluate("document.scripts.length") == 2  # the data and the page's own
    assert "<b>bold</b> text" in (watched.page.text_content("#meta") or "")
    assert watched.dialogs == [] and watched.errors == []
    assert watched.requests == [page_file.as_uri()]


def test_fragment_sets_the_initial_state(watched: Watched, page_file: Path) -> None:
    watched.page.goto(page_file.as_uri() + "#layer=1&head=3")
    assert watched.state() == "layer 1 · head 3"
    assert watched.page.get_attribute("#model-view figure.current", "data-head") == "3"


def test_clicking_heads_layers_and_thumbnails_changes_the_view(
    watched: Watched, page_file: Path
) -> None:
    page = watched.page
    page.goto(page_file.as_uri() + "#layer=0&head=0")
    before = watched.lines()
    page.dblclick("#heads button[data-head='2']")
    assert watched.state() == "layer 0 · head 2"
    assert watched.lines() != before
    page.select_option("#layer", "1")
    assert watched.state() == "layer 1 · head 2"
    page.click("#model-view figure[data-layer='2'][data-head='mean']")
    assert watched.state() == "layer 2 · head mean"
    assert page.evaluate("location.hash") == "#layer=2&head=mean"


def _line_groups(watched: Watched) -> dict[str, tuple[str, int]]:
    """Each drawn head's name -> (its stroke colour, how many lines it has)."""
    groups = watched.page.evaluate("window.attninspectPage.headView()")
    return {group["head"]: (group["color"], group["lines"]) for group in groups}


def test_toggling_two_heads_draws_each_in_its_own_colour(watched: Watched, page_file: Path) -> None:
    page = watched.page
    page.goto(page_file.as_uri() + "#layer=0&head=0")
    assert list(_line_groups(watched)) == ["0"]
    page.click("#heads button[data-head='2']")
    assert watched.state() == "layer 0 · heads 0,2"
    assert page.evaluate("location.hash") == "#layer=0&heads=0,2"
    groups = _line_groups(watched)
    assert list(groups) == ["0", "2"]
    assert groups["0"][0] != groups["2"][0]
    assert groups["0"][1] > 0 and groups["2"][1] > 0
    assert page.get_attribute("#heads button[data-head='2']", "aria-pressed") == "true"
    page.click("#heads button[data-head='0']")
    assert watched.state() == "layer 0 · head 2"
    page.click("#heads button[data-head='2']")  # the last head on stays on
    assert watched.state() == "layer 0 · head 2"
    page.click("#heads button[data-head='all']")
    assert watched.state() == "layer 0 · heads 0,1,2,3"
    assert len({stroke for stroke, _ in _line_groups(watched).values()}) == 4
    page.click("#heads button[data-head='mean']")
    assert watched.state() == "layer 0 · head mean"
    assert list(_line_groups(watched)) == ["mean"]
    assert watched.errors == []


def test_fragment_heads_selects_several(watched: Watched, page_file: Path) -> None:
    watched.page.goto(page_file.as_uri() + "#layer=1&heads=3,1,9,x")
    assert watched.state() == "layer 1 · heads 1,3"
    current = watched.page.eval_on_selector_all(
        "#model-view figure.current", "fs => fs.map(f => f.dataset.layer + ':' + f.dataset.head)"
    )
    assert current == ["1:1", "1:3"]
    watched.page.click("#model-view figure[data-layer='2'][data-head='0']")
    assert watched.state() == "layer 2 · head 0"


def test_a_layer_the_page_lacks_opens_the_first_kept_one(watched: Watched, tmp_path: Path) -> None:
    attention = _attention(2, 4, len(HOSTILE))
    document = PageDocument("narrow", HOSTILE, [False] * len(HOSTILE), attention, [4, 5])
    path = tmp_path / "narrow.html"
    path.write_text(render_page([document], "m", layer=11, head=2), "utf-8")
    watched.page.goto(path.as_uri())
    assert watched.state() == "layer 4 · head 2"
    watched.page.goto(path.as_uri() + "#layer=9&head=1")
    watched.page.reload()
    assert watched.state() == "layer 4 · head 1"
    watched.page.goto(path.as_uri() + "#layer=5&heads=0,3")
    watched.page.reload()
    assert watched.state() == "layer 5 · heads 0,3"
    assert watched.errors == []


def test_hovering_a_token_isolates_its_lines(watched: Watched, page_file: Path) -> None:
    page = watched.page
    page.goto(page_file.as_uri() + "#layer=0&head=1")
    everything = int(page.get_attribute("#head-view", "data-lines") or 0)
    page.hover("#head-view text[data-side=from][data-index='5']")
    isolated = int(page.get_attribute("#head-view", "data-lines") or 0)
    assert 0 < isolated <= len(HOSTILE) < everything
    page.hover("#matrix", position={"x": 5, "y": 5})
    assert (page.text_content("#readout") or "").startswith("[CLS] (0) → [CLS] (0): 0.")


def test_screenshot_is_not_blank(watched: Watched, page_file: Path, tmp_path: Path) -> None:
    from PIL import Image

    watched.page.goto(page_file.as_uri())
    shot = tmp_path / "page.png"
    watched.page.screenshot(path=str(shot), full_page=True)
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 100


def test_the_file_names_no_external_resource(page_file: Path) -> None:
    text = page_file.read_text("utf-8")
    urls = re.findall(r"(?:https?:|//[a-z])[^\s\"'<>]*", text)
    assert urls == ["http://www.w3.org/2000/svg"]  # a namespace name, never fetched
    assert "Content-Security-Policy" in text
    assert text.count("</script") == 2  # only the page's own two closing tags


def test_embedded_json_escapes_what_could_end_the_script() -> None:
    text = script_json({"t": "</script><!-- & \u2028\u2029"})
    assert not set("<>&\u2028\u2029") & set(text)


def test_weights_take_under_two_and_a_half_bytes_each() -> None:
    attention = _attention(6, 12, 64)
    page = render_page([PageDocument("x", ["t"] * 64, [False] * 64, attention)], "m")
    payload = re.search(r'"weights":"([^"]+)"', page)
    assert payload is not None
    assert len(payload.group(1)) / attention.size <= 2.5
    decoded = np.frombuffer(base64.b64decode(payload.group(1)), dtype=np.uint8) / 255
    assert np.abs(decoded.reshape(attention.shape) - attention).max() <= 0.5 / 255 + 1e-6


def test_the_matrix_has_token_labels_and_a_colour_scale(watched: Watched, page_file: Path) -> None:
    page = watched.page
    page.goto(page_file.as_uri() + "#layer=1&head=2")
    rows = page.eval_on_selector_all("#matrix-queries span", "s => s.map(n => n.title)")
    columns = page.eval_on_selector_all("#matrix-keys span", "s => s.map(n => n.title)")
    assert rows == columns == [f"{i}: {token}" for i, token in enumerate(HOSTILE)]
    peak = _attention(3, 4, len(HOSTILE))[1, 2].max()
    assert abs(float(page.text_content("#matrix-max") or "nan") - peak) <= 1 / 255
    assert "scaled to this matrix's own maximum" in (page.text_content("main") or "")
    assert "Weights under 0.01 get no line" in (page.text_content("main") or "")
    assert watched.errors == []


def test_a_rollout_page_calls_its_one_matrix_the_rollout(watched: Watched, tmp_path: Path) -> None:
    attention = _attention(2, 1, len(HOSTILE))
    document = PageDocument("r", HOSTILE, [False] * len(HOSTILE), attention, rollout=True)
    path = tmp_path / "rollout.html"
    path.write_text(render_page([document], "m", note="rollout"), "utf-8")
    watched.page.goto(path.as_uri())
    assert watched.state() == "layer 1 · rollout"
    assert watched.page.eval_on_selector_all("#heads button", "b => b.map(n => n.textContent)") == [
        "rollout"
    ]
    captions = watched.page.eval_on_selector_all(
        "#model-view figcaption", "f => f.map(n => n.textContent)"
    )
    assert captions == ["L0 rollout", "L1 rollout"]


def test_a_narrowed_page_says_what_its_mean_averages(watched: Watched, tmp_path: Path) -> None:
    attention = _attention(1, 4, len(HOSTILE))
    mean = _attention(1, 12, len(HOSTILE)).mean(axis=1)
    document = PageDocument("n", HOSTILE, [False] * len(HOSTILE), attention, [0], [1, 2, 3, 4],
                            head_mean=mean, model_heads=12)  # fmt: skip
    path = tmp_path / "narrow.html"
    path.write_text(render_page([document], "m"), "utf-8")
    watched.page.goto(path.as_uri())
    title = watched.page.get_attribute("#heads button[data-head='mean']", "title") or ""
    assert title.startswith("the mean of all 12 heads")
    assert "all 12 heads" in (watched.page.text_content("#mean-note") or "")
    watched.page.hover("#matrix", position={"x": 5, "y": 5})
    shown = float((watched.page.text_content("#readout") or "").rsplit(": ", 1)[1])
    assert abs(shown - mean[0, 0, 0]) <= 1 / 255 + 5e-4  # the page's mean: every head's
    assert abs(shown - attention[0, :, 0, 0].mean()) > 0.01  # not the four heads' it holds


# Where the text of ``needle`` inside ``selector`` starts on screen (its left edge, pixels).
LEFT_OF = """([selector, needle]) => {
  const root = document.querySelector(selector);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(needle);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + needle.length);
    return range.getBoundingClientRect().left;
  }
  return null;
}"""


def test_a_bidi_override_in_the_text_reorders_none_of_the_page(
    watched: Watched, tmp_path: Path
) -> None:
    tokens = ["[CLS]", "\u202eevil", "cat", "[SEP]"]
    document = PageDocument("\u202eevil text", tokens, [True, False, False, True],
                            _attention(1, 2, 4))  # fmt: skip
    path = tmp_path / "bidi.html"
    path.write_text(render_page([document], "tiny model", note="the note"), "utf-8")
    page = watched.page
    page.goto(path.as_uri())
    left = [page.evaluate(LEFT_OF, ["#meta", part]) for part in ("tiny model", "evil", "the note")]
    assert left[0] < left[1] < left[2], left  # model, text, note: in reading order
    page.hover("#matrix", position={"x": 60, "y": 5})  # the [CLS] row, the "evil" column
    readout = page.text_content("#readout") or ""
    assert readout.startswith("[CLS] (0) → \u202eevil (1): 0.")
    assert page.evaluate(LEFT_OF, ["#readout", "(1)"]) > page.evaluate(LEFT_OF, ["#readout", "(0)"])
    assert page.evaluate("document.title").count("\u2068") == 2  # model and text, isolated


def _long_page(tmp_path: Path, length: int = 512) -> Path:
    tokens = ["[CLS]", *(f"w{i}" for i in range(length - 2)), "[SEP]"]
    special = [True] + [False] * (length - 2) + [True]
    document = PageDocument("long", tokens, special, _attention(2, 4, length))
    path = tmp_path / "long.html"
    path.write_text(render_page([document], "m", layer=1, head="mean"), "utf-8")
    return path


def test_a_512_token_page_draws_on_a_canvas_and_answers_a_click(
    watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(_long_page(tmp_path).as_uri())
    assert watched.state() == "layer 1 · head mean"
    assert page.locator("#head-view canvas").count() == 1
    bounded = "#head-view *, #model-view *, #matrix-box *"
    assert page.eval_on_selector_all(bounded, "n => n.length") < 400  # not one per line or token
    page.click("#heads button[data-head='2']")
    assert watched.state() == "layer 1 · head 2"
    assert watched.page.evaluate("window.attninspectPage.headView()")[0]["lines"] > 0
    page.click("#model-view figure[data-layer='0'][data-head='mean']")
    assert watched.state() == "layer 0 · head mean"
    first = "#head-view text[data-side=from]"
    assert page.get_attribute(first, "data-index") == "0"
    page.eval_on_selector("#head-view", "box => { box.scrollTop = 22 * 300; }")
    page.wait_for_function(
        f"() => Number(document.querySelector('{first}').dataset.index) > 250"
    )  # a scroll draws the rows it shows
    assert watched.errors == []
