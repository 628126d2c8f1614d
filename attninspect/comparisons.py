"""The flows behind `heads` and `diff`: inspect, apply the same views, then compare."""

from __future__ import annotations

import dataclasses

from attninspect.analysis import merge_words
from attninspect.diffing import align_tokens, focus_changes, paired_delta
from attninspect.errors import AttnInspectError
from attninspect.focus import TokenSelector, resolve_selector
from attninspect.heads import HeadSearch, rank_heads
from attninspect.render.diff_view import TextDiff
from attninspect.runner import RunSettings, inspect_texts, view_of
from attninspect.views import focus_rows, resolve_head, resolve_layer


def search_heads(
    settings: RunSettings, text: str, source: TokenSelector, target: TokenSelector
) -> HeadSearch:
    """Every layer x head ranked by the attention ``source`` gives ``target`` in ``text``."""
    (inspection,) = inspect_texts(settings.engine, {"the text": text}, settings.truncate,
                                  settings.no_color)  # fmt: skip
    if settings.words:
        inspection = merge_words(inspection)
    i = resolve_selector(source, inspection.tokens, "--from")
    j = resolve_selector(target, inspection.tokens, "--to")
    return HeadSearch(inspection, i, j, rank_heads(inspection.attention, i, j))


def compare_texts(settings: RunSettings, text_a: str, text_b: str) -> TextDiff:
    """Both texts through the same views; A − B where they align; the focus token in both."""
    a, b = inspect_texts(
        settings.engine, {"text A": text_a, "text B": text_b}, settings.truncate, settings.no_color
    )
    layer = resolve_layer(settings.layer, a.num_layers)
    head = resolve_head(settings.head, a.num_heads)
    unfocused = dataclasses.replace(settings, focus=None)
    shown_a, view_a = view_of(a, settings, layer, head)
    shown_b, view_b = view_of(b, unfocused, layer, head)
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    changes = None
    if view_a.focus is not None:
        partner = dict(alignment.pairs).get(view_a.focus)
        if partner is None:
            token = shown_a.tokens[view_a.focus]
            raise AttnInspectError(
                f"--focus {settings.focus.raw if settings.focus else ''}: {token!r} "
                f"(@{view_a.focus} in A) has no partner in B; choose a token both texts share"
            )
        at_partner = TokenSelector(raw=f"@{partner}", position=partner)
        shown_b, view_b = view_of(b, dataclasses.replace(settings, focus=at_partner), layer, head)
        rows_a = focus_rows(shown_a.attention, view_a.focus, view_a.head)  # (L, T_a)
        rows_b = focus_rows(shown_b.attention, partner, view_b.head)  # (L, T_b)
        changes = focus_changes(rows_a, rows_b, shown_a.tokens, alignment, settings.top)
    delta = paired_delta(view_a.matrix, view_b.matrix, alignment)
    return TextDiff(shown_a, shown_b, view_a, view_b, alignment, delta, changes)
