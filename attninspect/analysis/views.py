"""From a finished inspection to what is shown: the analysis views in order, then the selection."""

from __future__ import annotations

from dataclasses import dataclass

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import (
    HeadChoice,
    View,
    build_view,
    parse_head,
    resolve_head,
    resolve_layer,
)
from attninspect.analysis.selectors import TokenSelector, parse_selector, resolve_selector
from attninspect.analysis.transforms import (
    HeadStats,
    head_stats,
    hide_special,
    merge_words,
    sink_share,
    with_rollout,
)
from attninspect.errors import AttnInspectError, BadValueError, InputError


@dataclass(frozen=True)
class ViewOptions:
    """How to look at an inspection: which layer and heads, which transforms, which focus token."""

    layer: int = -1
    head: HeadChoice = "mean"
    words: bool = False
    hide_special: bool = False
    rollout: bool = False
    focus: TokenSelector | None = None
    top: int = 5
    stats: bool = False

    @classmethod
    def parse(cls, head: str | int = "mean", focus: str | None = None, **rest: object):
        """Options from loose values (a head as text, a focus as typed); BadValueError if bad."""
        choice = parse_head(head)
        for name in ("layer", "top"):
            value = rest.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadValueError(f"{name}={value!r}: give an int")
        if rest.get("rollout") and choice != "mean":
            raise AttnInspectError("rollout averages the heads of each layer; use head='mean'")
        selector = parse_selector(focus) if focus is not None else None
        return cls(head=choice, focus=selector, **rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Analysed:
    """One inspection after the analysis views, and what was measured on the way."""

    inspection: Inspection
    head: HeadChoice
    sink_share: list[float]
    stats: list[HeadStats] | None


def analyse(inspection: Inspection, options: ViewOptions) -> Analysed:
    """Apply the analysis views in order: rollout over tokens (the flow the method models), then
    words; the sink share is measured there, before special tokens are hidden, so it says what
    hiding removed."""
    head = resolve_head(options.head, inspection.num_heads)
    if options.rollout:
        inspection = with_rollout(inspection)
        head = "mean"
    if options.words:
        inspection = merge_words(inspection)
    sinks = sink_share(inspection, head)
    layers = list(range(inspection.num_layers))
    stats = head_stats(inspection, layers) if options.stats else None
    if options.hide_special:
        inspection = hide_special(inspection)
    return Analysed(inspection, head, sinks, stats)


def focus_index(options: ViewOptions, inspection: Inspection) -> int | None:
    """Where the focus selector points in this (analysed) text, or None without one."""
    if options.focus is None:
        return None
    try:
        return resolve_selector(options.focus, inspection.tokens)
    except InputError as error:
        raise InputError(str(error), inspection.line) from error


def make_view(analysed: Analysed, options: ViewOptions, focus: int | None) -> View:
    """What the front ends show of an analysed inspection."""
    shown = analysed.inspection
    return build_view(
        shown.attention,
        shown.tokens,
        resolve_layer(options.layer, shown.num_layers),
        analysed.head,
        focus,
        options.top,
        kind="rollout" if options.rollout else "attention",
        words=options.words,
        hidden_special=options.hide_special,
        sink_share=analysed.sink_share,
        stats=analysed.stats,
    )


def view_of(inspection: Inspection, options: ViewOptions) -> tuple[Inspection, View]:
    """Analyse one text, resolve the focus token in it, and build what is shown."""
    resolve_layer(options.layer, inspection.num_layers)
    analysed = analyse(inspection, options)
    focus = focus_index(options, analysed.inspection)
    return analysed.inspection, make_view(analysed, options, focus)
