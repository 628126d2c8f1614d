"""Corpus statistics' accumulator: exact against per-text means, detectors against a loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import synthetic_inspection

from attninspect.analysis.corpus import (
    STATISTICS,
    CorpusSums,
    StatsDigest,
    detector_masks,
    statistics_options,
)
from attninspect.analysis.transforms import head_stats, hide_special

TEXTS = [
    ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"],
    ["[CLS]", "a", "b", "a", "b", "a", "[SEP]"],
    ["[CLS]", "x", "[SEP]"],
    ["[CLS]", "it", "was", "it", "was", "warm", "warm", "it", "[SEP]"],
]


def _inspections(layers: int = 2, heads: int = 3):
    return [
        synthetic_inspection(tokens, layers, heads, seed=seed) for seed, tokens in enumerate(TEXTS)
    ]


def _streamed(inspection, options=None, layers=None, heads=None) -> CorpusSums:
    layers = list(range(inspection.num_layers)) if layers is None else layers
    heads = list(range(inspection.num_heads)) if heads is None else heads
    empty = np.zeros((0, *inspection.attention.shape[1:]), np.float32)
    base = dataclasses.replace(inspection, attention=empty)
    digest = StatsDigest(base, options or statistics_options(False, False), layers, heads)
    for layer, attention in enumerate(inspection.attention):
        digest.add(layer, attention)
    result = digest.finish(0.0)
    assert isinstance(result, CorpusSums)
    return result


def _corpus(inspections, **kwargs) -> CorpusSums:
    total = None
    for inspection in inspections:
        part = _streamed(inspection, **kwargs)
        total = part if total is None else (total.add(part) or total)
    assert total is not None
    return total


def _weighted(inspections) -> dict[str, np.ndarray]:
    """Row-weighted means of `run --stats`'s per-text values: (L, H) per statistic."""
    rows = {"entropy": 0, "previous": 1, "same": 0, "next": 1, "special": 0}
    out = {}
    for name, lost in rows.items():
        total = weight = 0.0
        for inspection in inspections:
            n = inspection.length - lost
            found = head_stats(inspection, list(range(inspection.num_layers)))
            values = np.array([getattr(s, name) for s in found]).reshape(
                inspection.num_layers, inspection.num_heads
            )
            total = total + values * n
            weight += n
        out[name] = total / weight
    return out


def test_means_equal_the_row_weighted_per_text_means() -> None:
    inspections = _inspections()
    means = _corpus(inspections).means()  # (L, H, S)
    for name, expected in _weighted(inspections).items():
        np.testing.assert_allclose(means[:, :, STATISTICS.index(name)], expected, atol=1e-9)


def _reference_detectors(inspection) -> tuple[np.ndarray, np.ndarray, int]:
    """Duplicate and induction sums (L, H) and their row count, by loops."""
    tokens = inspection.tokens
    a = inspection.attention.astype(np.float64)
    dup = np.zeros(a.shape[:2])
    ind = np.zeros(a.shape[:2])
    rows = 0
    for i, token in enumerate(tokens):
        earlier = [j for j in range(i) if tokens[j] == token]
        if not earlier:
            continue
        rows += 1
        dup += a[:, :, i, earlier].sum(-1)
        ind += a[:, :, i, [j + 1 for j in earlier]].sum(-1)
    return dup, ind, rows


def test_detectors_against_a_loop() -> None:
    inspections = _inspections()
    corpus = _corpus(inspections)
    dup_total = ind_total = 0.0
    count = 0
    for inspection in inspections:
        dup, ind, rows = _reference_detectors(inspection)
        dup_total, ind_total, count = dup_total + dup, ind_total + ind, count + rows
    d, i = STATISTICS.index("duplicate"), STATISTICS.index("induction")
    assert (corpus.rows[:, d] == count).all() and (corpus.rows[:, i] == count).all()
    np.testing.assert_allclose(corpus.means()[:, :, d], dup_total / count, atol=1e-12)
    np.testing.assert_allclose(corpus.means()[:, :, i], ind_total / count, atol=1e-12)


def test_detector_masks_of_a_repeat() -> None:
    duplicate, induction = detector_masks(["a", "b", "a", "b"])
    assert np.argwhere(duplicate).tolist() == [[2, 0], [3, 1]]
    assert np.argwhere(induction).tolist() == [[2, 1], [3, 2]]


def test_any_split_merges_to_the_same_sums() -> None:
    inspections = _inspections()
    whole = _corpus(inspections)
    left, right = _corpus(inspections[:1]), _corpus(inspections[1:])
    right.add(left)
    np.testing.assert_allclose(right.sums, whole.sums, rtol=1e-15)
    assert (right.rows == whole.rows).all() and right.texts == whole.texts == len(TEXTS)
    again = CorpusSums.from_arrays(whole.to_arrays())
    assert again.layers == whole.layers and (again.sums == whole.sums).all()


def test_narrowed_layers_and_heads() -> None:
    inspections = _inspections(layers=3, heads=4)
    whole = _corpus(inspections).means()
    narrowed = _corpus(inspections, layers=[2], heads=[1, 3]).means()
    np.testing.assert_array_equal(narrowed, whole[[2]][:, [1, 3]])


def test_hide_special_measures_the_shown_attention() -> None:
    inspections = _inspections()
    corpus = _corpus(inspections, options=statistics_options(False, True))
    hidden = [hide_special(inspection) for inspection in inspections]
    expected = _weighted(hidden)
    means = corpus.means()
    for name, values in expected.items():
        np.testing.assert_allclose(means[:, :, STATISTICS.index(name)], values, atol=1e-6)
    assert (means[:, :, STATISTICS.index("special")] == 0).all()


def test_merging_other_layers_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be merged"):
        CorpusSums.empty([0], [0]).add(CorpusSums.empty([1], [0]))
