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

    def ready(self, options: ViewOptions) -> bool:
        """Whether ``options`` can be shown at once (its slow transforms are already computed)."""
        key = (options.words, options.rollout)
        return key == (False, False) or key in self.transformed

    def prepare(self, options: ViewOptions) -> None:
        """Compute the slow transforms of ``options`` (in a worker thread: a dict entry is set
        whole, so the interface thread sees it either absent or complete)."""
        self.base(options.words, options.rollout)

    def base(self, words: bool, rollout: bool) -> Inspection:
        """The inspection after the head-independent transforms, as `analyse` applies them."""
        key = (words, rollout)
        if not words and not rollout:
            return self.inspection
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
