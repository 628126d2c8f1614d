"""The flows behind `heads` and `diff`: inspect, apply the same views, then compare."""

from __future__ import annotations

from attninspect.analysis.alignment import align_tokens, focus_changes, paired_delta
from attninspect.analysis.head_ranking import HeadSearch, rank_heads
from attninspect.analysis.selection import focus_rows, resolve_head, resolve_layer
from attninspect.analysis.selectors import TokenSelector, resolve_selector
from attninspect.analysis.transforms import merge_words
from attninspect.cli.run_flow import RunSettings, analyse, focus_index, inspect_texts, make_view
from attninspect.errors import AttnInspectError
from attninspect.render.diff_view import TextDiff


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
    analysed_a, analysed_b = analyse(a, settings, head), analyse(b, settings, head)
    shown_a, shown_b = analysed_a.inspection, analysed_b.inspection
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    focus_a = focus_index(settings, shown_a)
    focus_b = None
    changes = None
    if focus_a is not None:
        focus_b = dict(alignment.pairs).get(focus_a)
        if focus_b is None:
            raise AttnInspectError(
                f"--focus {settings.focus.raw if settings.focus else ''}: "
                f"{shown_a.tokens[focus_a]!r} (@{focus_a} in A) has no partner in B; "
                "choose a token both texts share"
            )
        rows_a = focus_rows(shown_a.attention, focus_a, analysed_a.head)  # (L, T_a)
        rows_b = focus_rows(shown_b.attention, focus_b, analysed_b.head)  # (L, T_b)
        changes = focus_changes(rows_a, rows_b, shown_a.tokens, alignment, settings.top)
    view_a = make_view(analysed_a, settings, layer, focus_a)
    view_b = make_view(analysed_b, settings, layer, focus_b)
    delta = paired_delta(view_a.matrix, view_b.matrix, alignment)
    return TextDiff(shown_a, shown_b, view_a, view_b, alignment, delta, changes)
