"""The flows behind `heads` and `diff`: the analysis pipeline, then rank or compare."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from attninspect.analysis.alignment import (
    Alignment,
    TextDiff,
    align_tokens,
    focus_changes,
    key_alignment,
    paired_delta,
)
from attninspect.analysis.head_ranking import HeadDigest, HeadSearch, check_linked, rank_heads
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.measures import check_steps
from attninspect.analysis.pipeline import (
    ViewOptions,
    analyse,
    focus_index,
    model_position,
    shown_selector,
    shown_tokens,
)
from attninspect.analysis.selection import View
from attninspect.analysis.token_selectors import parse_selector, resolve_selector
from attninspect.errors import AttnInspectError, BadValueError


def search_heads(inspection: Inspection, source: str, target: str, words: bool) -> HeadSearch:
    """Every layer x head of a whole inspection ranked by the attention ``source`` (a query
    token) gives ``target`` (a key token), after the analysis pipeline; as the inspection's
    measure measures it (each head's own scores or norms)."""
    check_steps(inspection.measure, rollout=False, words=words, stats=False)
    options = ViewOptions(words=words, measure=inspection.measure)
    shown = analyse(inspection, options).inspection
    i, j = _from_to(shown, source, target, inspection, options)
    check_linked(shown.attention[:, :, i, j], shown, i, j)  # (L, H)
    return HeadSearch(shown, i, j, rank_heads(shown.attention, i, j))


def head_digest(
    base: Inspection, source: str, target: str, words: bool, measure: str = "weights"
) -> HeadDigest:
    """The streamed `search_heads` for a text not yet run: ``base`` has its tokens and no
    attention; the selectors are resolved (against its words, with ``words``) before any layer.
    ``measure``: what the layers will hold (`analysis.measures`)."""
    check_steps(measure, rollout=False, words=words, stats=False)
    options = ViewOptions(words=words, measure=measure)
    shown = shown_tokens(base, options)
    return HeadDigest(base, *_from_to(shown, source, target, base, options), options)


def _from_to(
    shown: Inspection, source: str, target: str, base: Inspection, options: ViewOptions
) -> tuple[int, int]:
    """``source`` among the query tokens, ``target`` among the key tokens (``@N``: the model's
    token N of ``base``)."""
    selector = shown_selector(_parsed(source, "--from"), base.query_axis, options, "--from")
    i = resolve_selector(selector, shown.query_tokens, "--from")
    selector = shown_selector(_parsed(target, "--to"), base.keys, options, "--to")
    j = resolve_selector(selector, shown.key_tokens, "--to")
    return i, j


def _parsed(raw: str, option: str):
    try:
        return parse_selector(raw)
    except ValueError as error:
        raise BadValueError(f"{option}: {error}") from None


def partner_focus(options: ViewOptions, pairs, shown_a: Inspection, focus_a: int) -> int:
    """The token of B aligned with A's focus token, or an error that says to choose another."""
    focus_b = dict(pairs).get(focus_a)
    if focus_b is None:
        raise AttnInspectError(
            f"--focus {options.focus.raw if options.focus else ''}: "
            f"{shown_a.tokens[focus_a]!r} (@{focus_a} in A) has no partner in B; "
            "choose a token both texts share"
        )
    return focus_b


@dataclass(frozen=True)
class DiffPlan:
    """What `diff` settles from the tokens alone, before any layer: how the texts align and
    where the focus token is in each (B's focus as the ``@index`` selector of its partner)."""

    alignment: Alignment  # the query tokens (rows)
    focus_a: int | None
    options_b: ViewOptions
    keys: Alignment | None = None  # the key tokens (columns); None: as the rows


def plan_diff(base_a: Inspection, base_b: Inspection, options: ViewOptions) -> DiffPlan:
    """How the two texts align and where the focus token is in each, from texts not yet run
    (``base_*`` have tokens and an empty attention)."""
    shown_a, shown_b = shown_tokens(base_a, options), shown_tokens(base_b, options)
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    focus_a = focus_index(options, shown_a, base_a)
    options_b = options
    if focus_a is not None:
        focus_b = partner_focus(options, alignment.pairs, shown_a, focus_a)
        at = model_position(base_b.query_axis, options, focus_b)  # @N: a model position
        options_b = dataclasses.replace(options, focus=parse_selector(f"@{at}"))
    return DiffPlan(alignment, focus_a, options_b, key_alignment(shown_a, shown_b))


def diff_of(
    plan: DiffPlan,
    a: tuple[Inspection, View, np.ndarray | None],
    b: tuple[Inspection, View, np.ndarray | None],
    top: int,
) -> TextDiff:
    """The `TextDiff` of two streamed texts: (analysed inspection, view, focus rows (L, Tk'))."""
    (shown_a, view_a, rows_a), (shown_b, view_b, rows_b) = a, b
    changes = None
    if plan.focus_a is not None and rows_a is not None and rows_b is not None:
        key_pairs = plan.keys or plan.alignment
        changes = focus_changes(rows_a, rows_b, shown_a.key_tokens, key_pairs, top)
    delta = paired_delta(view_a.matrix, view_b.matrix, plan.alignment, plan.keys)
    return TextDiff(shown_a, shown_b, view_a, view_b, plan.alignment, delta, changes, plan.keys)
