"""The explorer's views: `Inspection.view`'s numbers, with the slow steps kept per sentence.

Merging words and rolling attention out are the expensive steps (tens of ms on 128 tokens) and do
not depend on the layer or head, so a key press that only moves those reuses them: the cache keeps
the pipeline's `reshape` result and runs its `measure` step per view.
"""

from __future__ import annotations

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.measures import for_heads
from attninspect.analysis.pipeline import (
    Rollout,
    ViewOptions,
    focus_index,
    make_view,
    measure,
    reshape,
)
from attninspect.analysis.selection import View, resolve_head, resolve_layer


class ViewCache:
    """Views of one inspection; the word-merged and rolled-out tensors are computed once each."""

    def __init__(self, inspection: Inspection) -> None:
        self.inspection = inspection
        self.reshaped: dict[tuple[bool, bool], Inspection] = {}

    def ready(self, options: ViewOptions) -> bool:
        """Whether ``options`` can be shown at once (its slow steps are already computed)."""
        key = (options.words, options.rollout)
        return key == (False, False) or key in self.reshaped

    def prepare(self, options: ViewOptions) -> None:
        """Compute the slow steps of ``options`` (in a worker thread: a dict entry is set whole,
        so the interface thread sees it either absent or complete)."""
        self.base(options)

    def base(self, options: ViewOptions) -> Inspection:
        """The inspection after the pipeline's head-independent steps (`pipeline.reshape`)."""
        key = (options.words, options.rollout)
        if key == (False, False):
            return self.inspection
        if key not in self.reshaped:
            self.reshaped[key] = reshape(self.inspection, options, Rollout())
        return self.reshaped[key]

    def view(self, options: ViewOptions) -> tuple[Inspection, View]:
        """What `analysis.pipeline.view_of` gives for ``options`` (tests hold the two equal)."""
        resolve_layer(options.layer, self.inspection.num_layers)
        head = resolve_head(options.head, self.inspection.num_heads)
        base = for_heads(self.base(options), options.head)  # norms: the head mean is ‖Σ_h α f‖
        analysed = measure(base, options, head, 0)
        shown = analysed.inspection
        focus = focus_index(options, shown, self.inspection)
        return shown, make_view(analysed, options, focus)
