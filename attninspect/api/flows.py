"""The flows behind `heads` and `diff`: the same views on finished inspections, then compare."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from attninspect.analysis.alignment import (
    Alignment,
    TextDiff,
    align_tokens,
    focus_changes,
    paired_delta,
)
from attninspect.analysis.head_ranking import HeadDigest, HeadSearch, rank_heads
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View, focus_rows
from attninspect.analysis.selectors import parse_selector, resolve_selector
from attninspect.analysis.transforms import hide_special, merge_words
from attninspect.analysis.views import Analysed, ViewOptions, analyse, focus_index, make_view
from attninspect.errors import AttnInspectError


def search_heads(inspection: Inspection, source: str, target: str, words: bool) -> HeadSearch:
    """Every layer x head ranked by the attention ``source`` gives ``target``."""
    if words:
        inspection = merge_words(inspection)
    i = resolve_selector(_parsed(source, "--from"), inspection.tokens, "--from")
    j = resolve_selector(_parsed(target, "--to"), inspection.tokens, "--to")
    return HeadSearch(inspection, i, j, rank_heads(inspection.attention, i, j))


def head_digest(base: Inspection, source: str, target: str, words: bool) -> HeadDigest:
    """The streamed `search_heads` for a text not yet run: ``base`` has its tokens and no
    attention; the selectors are resolved (against its words, with ``words``) before any layer."""
    shown = merge_words(base) if words else base
    i = resolve_selector(_parsed(source, "--from"), shown.tokens, "--from")
    j = resolve_selector(_parsed(target, "--to"), shown.tokens, "--to")
    return HeadDigest(base, i, j, words)


def _parsed(raw: str, option: str):
    try:
        return parse_selector(raw)
    except ValueError as error:
        raise AttnInspectError(f"{option}: {error}") from None


def compare_texts(a: Inspection, b: Inspection, options: ViewOptions) -> TextDiff:
    """Both texts through the same views; A − B where they align; the focus token in both."""
    analysed_a, analysed_b = analyse(a, options), analyse(b, options)
    shown_a, shown_b = analysed_a.inspection, analysed_b.inspection
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    focus_a = focus_index(options, shown_a)
    focus_b, changes = None, None
    if focus_a is not None:
        focus_b = _partner(options, alignment.pairs, shown_a, focus_a)
        changes = _focus_changes(analysed_a, analysed_b, focus_a, focus_b, alignment, options)
    view_a = make_view(analysed_a, options, focus_a)
    view_b = make_view(analysed_b, options, focus_b)
    delta = paired_delta(view_a.matrix, view_b.matrix, alignment)
    return TextDiff(shown_a, shown_b, view_a, view_b, alignment, delta, changes)


def _partner(options: ViewOptions, pairs, shown_a: Inspection, focus_a: int) -> int:
    """The token of B aligned with A's focus token, or an error that says to choose another."""
    focus_b = dict(pairs).get(focus_a)
    if focus_b is None:
        raise AttnInspectError(
            f"--focus {options.focus.raw if options.focus else ''}: "
            f"{shown_a.tokens[focus_a]!r} (@{focus_a} in A) has no partner in B; "
            "choose a token both texts share"
        )
    return focus_b


def _focus_changes(
    a: Analysed, b: Analysed, focus_a: int, focus_b: int, alignment, options: ViewOptions
):
    rows_a = focus_rows(a.inspection.attention, focus_a, a.head)  # (L, T_a)
    rows_b = focus_rows(b.inspection.attention, focus_b, b.head)  # (L, T_b)
    return focus_changes(rows_a, rows_b, a.inspection.tokens, alignment, options.top)


@dataclass(frozen=True)
class DiffPlan:
    """What `diff` settles from the tokens alone, before any layer: how the texts align and
    where the focus token is in each (B's focus as the ``@index`` selector of its partner)."""

    alignment: Alignment
    focus_a: int | None
    options_b: ViewOptions


def plan_diff(base_a: Inspection, base_b: Inspection, options: ViewOptions) -> DiffPlan:
    """The alignment and focus tokens of `compare_texts`, from texts not yet run (``base_*`` have
    tokens and an empty attention); the same errors, in the same order."""
    shown_a, shown_b = _shown_tokens(base_a, options), _shown_tokens(base_b, options)
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    focus_a = focus_index(options, shown_a)
    options_b = options
    if focus_a is not None:
        focus_b = _partner(options, alignment.pairs, shown_a, focus_a)
        options_b = dataclasses.replace(options, focus=parse_selector(f"@{focus_b}"))
    return DiffPlan(alignment, focus_a, options_b)


def _shown_tokens(base: Inspection, options: ViewOptions) -> Inspection:
    """The tokens `analyse` would show (words merged, special tokens hidden), without attention."""
    if options.words:
        base = merge_words(base)
    return hide_special(base) if options.hide_special else base


def diff_of(
    plan: DiffPlan,
    a: tuple[Inspection, View, np.ndarray | None],
    b: tuple[Inspection, View, np.ndarray | None],
    top: int,
) -> TextDiff:
    """The `TextDiff` of two streamed texts: (analysed inspection, view, focus rows (L, T'))."""
    (shown_a, view_a, rows_a), (shown_b, view_b, rows_b) = a, b
    changes = None
    if plan.focus_a is not None and rows_a is not None and rows_b is not None:
        changes = focus_changes(rows_a, rows_b, shown_a.tokens, plan.alignment, top)
    delta = paired_delta(view_a.matrix, view_b.matrix, plan.alignment)
    return TextDiff(shown_a, shown_b, view_a, view_b, plan.alignment, delta, changes)
