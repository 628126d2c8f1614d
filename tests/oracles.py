"""Whole-tensor oracles the streamed paths are checked against (tests only)."""

from __future__ import annotations

import dataclasses

import numpy as np

from attninspect.analysis.alignment import (
    TextDiff,
    align_tokens,
    focus_changes,
    key_alignment,
    paired_delta,
)
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.pipeline import ViewOptions, analyse, focus_index, make_view
from attninspect.analysis.selection import focus_rows
from attninspect.analysis.transforms import check_rollout
from attninspect.api.flows import partner_focus


def compare_texts(a: Inspection, b: Inspection, options: ViewOptions) -> TextDiff:
    """Both whole texts through the pipeline; A − B where they align; the focus token in both."""
    analysed_a, analysed_b = analyse(a, options), analyse(b, options)
    shown_a, shown_b = analysed_a.inspection, analysed_b.inspection
    alignment = align_tokens(shown_a.tokens, shown_b.tokens)
    keys = key_alignment(shown_a, shown_b)  # None: the keys pair as the queries do
    focus_a = focus_index(options, shown_a)
    focus_b, changes = None, None
    if focus_a is not None:
        focus_b = partner_focus(options, alignment.pairs, shown_a, focus_a)
        rows_a = focus_rows(shown_a.attention, focus_a, analysed_a.head)  # (L, Tk_a)
        rows_b = focus_rows(shown_b.attention, focus_b, analysed_b.head)  # (L, Tk_b)
        key_pairs = keys or alignment
        changes = focus_changes(rows_a, rows_b, shown_a.key_tokens, key_pairs, options.top)
    view_a = make_view(analysed_a, options, focus_a)
    view_b = make_view(analysed_b, options, focus_b)
    delta = paired_delta(view_a.matrix, view_b.matrix, alignment, keys)
    return TextDiff(shown_a, shown_b, view_a, view_b, alignment, delta, changes, keys)


def rollout(attention: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) up to every layer, written out whole:
    (L, H, T, T) -> (L, 1, T, T). Each layer's head mean A becomes 0.5·A + 0.5·I, rows
    renormalised; the rollout up to layer l is that layer's matrix times the rollout below it."""
    layers, _, length, _ = attention.shape
    identity = np.eye(length)
    result = np.empty((layers, 1, length, length), dtype=np.float32)
    product = identity
    for layer in range(layers):
        mixed = 0.5 * attention[layer].astype(np.float64).mean(axis=0) + 0.5 * identity
        mixed /= mixed.sum(axis=-1, keepdims=True)
        product = mixed @ product
        result[layer, 0] = product
    return result


def with_rollout(inspection: Inspection) -> Inspection:
    """The inspection with its attention replaced by the rollout up to each layer."""
    check_rollout(inspection)
    rolled = rollout(inspection.attention)
    shapes = {**inspection.shapes, "rollout": list(rolled.shape)}
    return dataclasses.replace(inspection, attention=rolled, shapes=shapes)
