"""The analysis pipeline, written once: ``rollout → words → sink share → stats → hide special``.

Every consumer calls it — the streamed digest one layer at a time (`analysis.digest`), the
whole-tensor view (`view_of`, `Inspection.view`), the explorer's cache (`reshape` cached, then
`measure`), head search and diff (`shown_tokens` for the tokens before any layer) — so a new
step is one edit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Generic

import numpy as np

from attninspect.analysis.measures import check_steps, for_heads
from attninspect.analysis.record import Data, InspectionData, TokenAxis
from attninspect.analysis.selection import (
    HeadChoice,
    View,
    build_view,
    heads_view,
    parse_head,
    resolve_head,
    resolve_layer,
)
from attninspect.analysis.token_selectors import TokenSelector, parse_selector, resolve_selector
from attninspect.analysis.transforms import (
    HeadStats,
    check_rollout,
    head_stats,
    hide_special,
    merge_words,
    padded_special_share,
    rollout_step,
    sink_share,
    special_share,
    word_groups,
)
from attninspect.errors import AttnInspectError, BadValueError, InputError
from attninspect.model.limits import whole_number
from attninspect.safe_text import printable


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
    measure: str = "weights"  # what a cell holds: weights, scores or norms (`measures`)

    @classmethod
    def parse(cls, head: str | int = "mean", focus: str | None = None, **rest: object):
        """Options from loose values (a head as text, a focus as typed); BadValueError if bad."""
        unknown = sorted(set(rest) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            known = "layer, head, words, hide_special, rollout, focus, top, stats, measure"
            raise BadValueError(f"no view keyword {unknown[0]}=; the keywords are {known}")
        choice = parse_head(head)
        for name in ("layer", "top"):
            value = whole_number(rest.get(name, 0))
            if value is None:
                raise BadValueError(f"{name}={rest.get(name)!r}: give an int")
            if name in rest:
                rest[name] = value  # a numpy integer becomes an int
        if rest.get("rollout") and choice != "mean":
            raise AttnInspectError("rollout averages the heads of each layer; use head='mean'")
        selector = parse_selector(focus) if focus is not None else None
        return cls(head=choice, focus=selector, **rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Analysed(Generic[Data]):
    """One inspection after the analysis steps, and what was measured on the way."""

    inspection: Data
    head: HeadChoice
    sink_share: list[float]
    stats: list[HeadStats] | None


@dataclass
class Rollout:
    """Rollout's running product, carried from one streamed layer to the next: (Tq, Tk) float64."""

    product: np.ndarray | None = None


def analyse(
    piece: Data,
    options: ViewOptions,
    rollout: Rollout | None = None,
    first_layer: int = 0,
) -> Analysed[Data]:
    """The analysis steps, in their one order: ``rollout → words → sink share → stats → hide
    special``, on a whole (L, H, Tq, Tk) tensor or on one streamed layer (1, H, Tq, Tk) whose
    ``rollout`` state and ``first_layer`` number carry on from the layers before it."""
    reshaped = reshape(piece, options, rollout or Rollout())
    return measure(reshaped, options, resolve_head(options.head, piece.num_heads), first_layer)


def reshape(piece: Data, options: ViewOptions, rollout: Rollout) -> Data:
    """The head-independent steps (the explorer caches their result): rollout over tokens first,
    the information flow the method models, then words."""
    if options.rollout:
        check_rollout(piece)
        piece = _rolled(piece, rollout)
    if options.words:
        piece = merge_words(piece)
    return piece


def measure(
    piece: Data, options: ViewOptions, head: HeadChoice, first_layer: int
) -> Analysed[Data]:
    """The steps that depend on the head: the sink share and head statistics are measured before
    special tokens are hidden, so they say what hiding removed; then hide special."""
    head = "mean" if options.rollout else head
    sinks = sink_share(piece, head)
    stats = None
    if options.stats:
        found = head_stats(piece, list(range(int(piece.attention.shape[0]))))
        stats = [dataclasses.replace(each, layer=each.layer + first_layer) for each in found]
    if options.hide_special:
        piece = hide_special(piece)
    return Analysed(piece, head, sinks, stats)


def _rolled(piece: Data, rollout: Rollout) -> Data:
    """Each layer's attention replaced by the rollout up to it: (L, 1, T, T)."""
    length = piece.key_length
    rolled = np.empty((piece.attention.shape[0], 1, length, length), np.float32)  # (L, 1, T, T)
    for layer, layer_attention in enumerate(piece.attention):  # (H, T, T)
        rollout.product = rollout_step(rollout.product, layer_attention)
        rolled[layer, 0] = rollout.product
    shapes = {**piece.shapes, "rollout": list(rolled.shape)}
    return dataclasses.replace(piece, attention=rolled, shapes=shapes)


def needs_steps(options: ViewOptions) -> bool:
    """Whether any step but the sink share applies. Without one, a streamed layer is measured as
    the bare array it comes in (`measure_bare`): no Inspection per layer on the hot path."""
    return options.words or options.hide_special or options.rollout or options.stats


def measure_bare(attention: np.ndarray, special: np.ndarray, head: HeadChoice) -> list[float]:
    """What `analyse` measures when `needs_steps` is false (the sink share alone), on a bare
    (L, H, Tq, Tk) array and its keys' (Tk,) special flags."""
    return special_share(attention, special, head)


def measure_bare_batch(
    weights: np.ndarray, special: np.ndarray, lengths: np.ndarray, head: HeadChoice
) -> tuple[np.ndarray, np.ndarray]:
    """`measure_bare` for one layer of a padded batch (B, H, T, T), every text at once: the
    chosen heads' (B, T, T) view and each text's (B,) sink share. ``special``: (B, T) key flags,
    ``lengths``: (B,) token counts."""
    shown = heads_view(weights, head)  # (B, T, T)
    return shown, padded_special_share(shown, special, lengths)


def shown_tokens(base: Data, options: ViewOptions) -> Data:
    """The tokens the analysis steps leave (words merged, special tokens hidden) of a text not yet
    run: ``base`` has its tokens and an empty (0, H, Tq, Tk) attention."""
    return analyse(base, options).inspection


def focus_index(
    options: ViewOptions, inspection: InspectionData, base: InspectionData | None = None
) -> int | None:
    """Where the focus selector points in this (analysed) text, or None without one. ``@N`` is
    the model's token N of ``base`` (the text before the steps), wherever the steps move it."""
    if options.focus is None:
        return None
    try:
        selector = options.focus
        if base is not None:
            selector = shown_selector(selector, base.query_axis, options)
        return resolve_selector(selector, inspection.tokens)
    except InputError as error:
        raise InputError(str(error), inspection.line) from error


def shown_positions(axis: TokenAxis, options: ViewOptions) -> list[int | None]:
    """For each model token of ``axis``, its index among the tokens the steps show (words
    merged, special tokens hidden), or None where ``hide_special`` hides it."""
    groups = word_groups(axis) if options.words else [[p] for p in range(len(axis))]
    mapping: list[int | None] = [None] * len(axis)
    shown = 0
    for group in groups:
        hidden = options.hide_special and axis.special[group[0]]
        for position in group:
            mapping[position] = None if hidden else shown
        shown += 0 if hidden else 1
    return mapping


def shown_selector(
    selector: TokenSelector, axis: TokenAxis, options: ViewOptions, option: str = "--focus"
) -> TokenSelector:
    """A position selector (``@N``: the model's token N of ``axis``) as the position it has
    among the shown tokens; a text selector as it is."""
    if selector.position is None or not (options.words or options.hide_special):
        return selector
    length = len(axis)
    if not -length <= selector.position < length:
        raise InputError(
            f"{option} {printable(selector.raw)}: position out of range; the text has "
            f"{length} tokens (@0..@{length - 1})"
        )
    position = selector.position % length
    index = shown_positions(axis, options)[position]
    if index is None:
        raise InputError(
            f"{option} {printable(selector.raw)}: token @{position} "
            f"({printable(axis.tokens[position])}) is special, and --hide-special hides it"
        )
    return dataclasses.replace(selector, position=index)


def model_position(axis: TokenAxis, options: ViewOptions, index: int) -> int:
    """The first model token of ``axis`` shown at ``index`` (the inverse of `shown_positions`)."""
    return shown_positions(axis, options).index(index)


def make_view(analysed: Analysed[Data], options: ViewOptions, focus: int | None) -> View:
    """What the front ends show of an analysed inspection."""
    shown = analysed.inspection
    return build_view(
        shown.attention,
        shown.tokens,
        shown.key_tokens,
        resolve_layer(options.layer, shown.num_layers),
        analysed.head,
        focus,
        options.top,
        kind="rollout" if options.rollout else "attention",
        words=options.words,
        hidden_special=options.hide_special,
        sink_share=analysed.sink_share if shown.measure == "weights" else None,
        stats=analysed.stats,
        attention_kind=shown.kind,
    )


def view_of(inspection: Data, options: ViewOptions) -> tuple[Data, View]:
    """Analyse one text, resolve the focus token in it, and build what is shown (of the
    inspection's measure: `measures`)."""
    resolve_layer(options.layer, inspection.num_layers)
    check_steps(
        inspection.measure, options.rollout, options.words, options.stats, options.hide_special
    )
    inspection = for_heads(inspection, options.head)
    analysed = analyse(inspection, options)
    focus = focus_index(options, analysed.inspection, inspection)
    return analysed.inspection, make_view(analysed, options, focus)
