"""The vectors an HTML page's neuron view needs: one layer's queries and keys, from one more
pass of the text. `run --save FILE.html` and the live page of `serve` both ask here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attninspect.errors import AttnInspectError

if TYPE_CHECKING:
    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.neurons import LayerNeurons
    from attninspect.analysis.selection import View


def page_neurons(inspector: Any, shown: Inspection, view: View) -> LayerNeurons | None:
    """The vectors of the page's layer (the view's), for the neuron view of a clicked query;
    None where the page's tokens are not the model's own (words, hidden special tokens), for
    rollout, or where the model cannot hand them over (its attention does not pass through
    the tap, an encoder-decoder kind, a request with a target or a pair, a client of a server
    from before the neuron view)."""
    if getattr(view, "kind", "attention") == "rollout" or shown.kind != "self":
        return None
    neuron_layer = getattr(inspector, "neuron_layer", None)
    if neuron_layer is None:
        return None
    try:
        found: LayerNeurons = neuron_layer(shown.text, view.layer)
    except AttnInspectError:
        return None
    if found.tokens != list(shown.tokens) or found.key_tokens != list(shown.key_tokens):
        return None
    return found
