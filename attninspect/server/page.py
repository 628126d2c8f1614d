"""The live page: the offline page (head view, model view, matrix, ``#state``, ``#layer=&head=``
links) with a text box, the view options, head search and a diff, all answered by this server.

The page is `render_page`'s, with three additions spliced in: a Content-Security-Policy that also
lets it call back its own origin (and nothing else), the live controls, and their script. User
text reaches the page only as JSON data and through ``textContent``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.neurons import LayerNeurons
from attninspect.analysis.selection import HeadChoice, View
from attninspect.render.html_page import page_data, render_page, script_json
from attninspect.render.pictures import document

OFFLINE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
LIVE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
CONTROLS_AT = '<nav class="controls">'
# What the page's subtitle says a cell holds, where it is not the attention weight.
MEASURE_NOTES = {
    "scores": "scores before the softmax (blank: masked)",
    "norms": "norms ‖α f(x)‖ (Kobayashi et al. 2020)",
}
SCRIPT_AT = "</body>"


def _asset(name: str) -> str:
    return (
        resources.files("attninspect.server").joinpath("assets").joinpath(name).read_text("utf-8")
    )


def note_of(view: View, measure: str = "weights") -> str:
    """The page's subtitle: the view's kind, its measure where not weights, and transforms
    (the state line shows layer, head)."""
    parts: list[str] = [view.kind]
    if measure != "weights":
        note = MEASURE_NOTES.get(measure, measure)
        parts.append(note + (", head mean ‖Σ_h α f(x)‖" if measure == "norms" else ""))
    if view.words:
        parts.append("words")
    if view.hidden_special:
        parts.append("special tokens hidden")
    return " · ".join(parts)


def run_page_data(
    shown: Inspection, view: View, neurons: LayerNeurons | None = None
) -> dict[str, Any]:
    """The page's data for one analysed text (every layer kept) opened on the view's layer/head;
    ``neurons``: the view's layer's vectors, for the page's neuron view."""
    head: HeadChoice = "mean" if view.head == "max" else view.head
    documents = [document(shown, neurons=neurons)]
    return page_data(documents, shown.model, view.layer, head, note_of(view, shown.measure))


def diff_page_data(comparison: TextDiff) -> dict[str, Any]:
    """Both texts of a diff as the page's two documents (the text menu switches them)."""
    a, b, view = comparison.a, comparison.b, comparison.view_a
    documents = [document(a, f"A: {a.text}"), document(b, f"B: {b.text}")]
    head: HeadChoice = "mean" if view.head == "max" else view.head
    return page_data(documents, a.model, view.layer, head, "A − B · " + note_of(view))


def live_page(
    shown: Inspection, view: View, limits: dict[str, Any], neurons: LayerNeurons | None = None
) -> str:
    """The whole live page, first showing ``shown`` as ``view`` (``neurons``: the vectors of
    its layer, for the neuron view)."""
    head: HeadChoice = "mean" if view.head == "max" else view.head
    documents = [document(shown, neurons=neurons)]
    page = render_page(documents, shown.model, view.layer, head, note_of(view, shown.measure))
    for marker in (OFFLINE_CSP, CONTROLS_AT, SCRIPT_AT):
        if page.count(marker) != 1:  # the offline page changed shape: fail loudly, not silently
            raise RuntimeError(f"the offline page no longer has {marker!r} once")
    settings = script_json({"text": shown.text, **limits})
    page = page.replace(OFFLINE_CSP, LIVE_CSP)
    controls = _asset("live.html").replace("{{style}}", _asset("live.css"))
    page = page.replace(CONTROLS_AT, controls + CONTROLS_AT)
    script = (
        f'<script type="application/json" id="live-settings">{settings}</script>\n'
        f"<script>{_asset('live.js')}</script>\n"
    )
    return page.replace(SCRIPT_AT, script + SCRIPT_AT)
