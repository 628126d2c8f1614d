"""The explorer's views: `Inspection.view`'s numbers, with the slow transforms kept per sentence.

Merging words and rolling attention out are the expensive steps (tens of ms on 128 tokens) and do
not depend on the layer or head, so a key press that only moves those reuses them.
"""

from __future__ import annotations

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View, resolve_head, resolve_layer
from attninspect.analysis.transforms import hide_special, merge_words, sink_share, with_rollout
from attninspect.analysis.views import Analysed, ViewOptions, focus_index, make_view


class ViewCache:
    """Views of one inspection; the word-merged and rolled-out tensors are computed once each."""

    def __init__(self, inspection: Inspection) -> None:
        self.inspection = inspection
        self.transformed: dict[tuple[bool, bool], Inspection] = {}

    def base(self, words: bool, rollout: bool) -> Inspection:
        """The inspection after the head-independent transforms, as `analyse` applies them."""
        key = (words, rollout)
        if key not in self.transformed:
            shown = merge_words(self.inspection) if words else self.inspection
            self.transformed[key] = with_rollout(shown) if rollout else shown
        return self.transformed[key]

    def view(self, options: ViewOptions) -> tuple[Inspection, View]:
        """What `analysis.views.view_of` gives for ``options`` (tests hold the two equal)."""
        resolve_layer(options.layer, self.inspection.num_layers)
        head = resolve_head(options.head, self.inspection.num_heads)
        shown = self.base(options.words, options.rollout)
        head = "mean" if options.rollout else head
        sinks = sink_share(shown, head)
        if options.hide_special:
            shown = hide_special(shown)
        analysed = Analysed(shown, head, sinks, None)
        return shown, make_view(analysed, options, focus_index(options, shown))
