"""Machine formats of `stats`: one JSON object, wide CSV rows, and NPZ arrays of a corpus."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attninspect.analysis.corpus import STATISTICS, CorpusStats


def stats_csv_columns(unit: str) -> tuple[str, ...]:
    """The CSV header: the means, then each statistic's count, named for what it counts."""
    return ("layer", "head", *STATISTICS, *(f"{name}_{unit}" for name in STATISTICS))


def corpus_record(stats: CorpusStats) -> dict[str, Any]:
    """Every statistic of every kept layer x head, with its counts (``averaged_over``: "rows" or
    "texts", the key they are under) and what was measured."""
    sums = stats.sums
    return {
        "model": stats.model,
        "engine": stats.engine,
        "attention_kind": stats.kind,
        "convention": stats.convention,
        "averaged_over": stats.unit,
        "texts": sums.texts,
        "tokens": sums.tokens,
        "skipped": stats.skipped,
        "words": stats.words,
        "hide_special": stats.hide_special,
        "layers": sums.layers,
        "heads": sums.heads,
        "statistics": list(STATISTICS),
        "stats": stats.heads(),
        "seconds": round(stats.seconds, 6),
    }


def corpus_rows(stats: CorpusStats) -> Iterable[tuple]:
    """One row per layer x head: the means (empty where undefined), then the counts."""
    for entry in stats.heads():
        means = ["" if entry[name] is None else entry[name] for name in STATISTICS]
        counts = [entry[stats.unit][name] for name in STATISTICS]  # type: ignore[index]
        yield (entry["layer"], entry["head"], *means, *counts)


def corpus_arrays(stats: CorpusStats) -> dict[str, np.ndarray]:
    """`means` (L', H', S; NaN where undefined), `sums`, the counts (L', S) under `rows` (our
    convention) or `texts_per_statistic` (the per-text ones), `layers`, `heads`, `statistics`
    (S names), `texts`, `tokens`, `model` and `convention`."""
    arrays = stats.sums.to_arrays()
    if stats.unit != "rows":
        arrays["texts_per_statistic"] = arrays.pop("rows")
    return {
        **arrays,
        "convention": np.array(stats.convention, dtype=np.str_),
        "attention_kind": np.array(stats.kind, dtype=np.str_),
        "means": stats.means,
        "statistics": np.array(STATISTICS, dtype=np.str_),
        "model": np.array(stats.model, dtype=np.str_),
    }


@dataclass(frozen=True)
class StatsResult:
    """A corpus as the writers see it."""

    stats: CorpusStats

    @property
    def csv_columns(self) -> tuple[str, ...]:
        return stats_csv_columns(self.stats.unit)

    def record(self) -> dict[str, Any]:
        return corpus_record(self.stats)

    def rows(self) -> Iterable[tuple]:
        return corpus_rows(self.stats)
