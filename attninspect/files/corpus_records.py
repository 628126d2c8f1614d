"""Machine formats of `stats`: one JSON object, wide CSV rows, and NPZ arrays of a corpus."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attninspect.analysis.corpus import STATISTICS, CorpusStats

STATS_CSV_COLUMNS = (
    "layer",
    "head",
    *STATISTICS,
    *(f"{name}_rows" for name in STATISTICS),
)


def corpus_record(stats: CorpusStats) -> dict[str, Any]:
    """Every statistic of every kept layer x head, with row counts and what was measured."""
    sums = stats.sums
    return {
        "model": stats.model,
        "engine": stats.engine,
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
    """One row per layer x head: the means (empty where undefined), then the row counts."""
    for entry in stats.heads():
        means = ["" if entry[name] is None else entry[name] for name in STATISTICS]
        counts = [entry["rows"][name] for name in STATISTICS]  # type: ignore[index]
        yield (entry["layer"], entry["head"], *means, *counts)


def corpus_arrays(stats: CorpusStats) -> dict[str, np.ndarray]:
    """`means` (L', H', S; NaN where undefined), `sums`, `rows` (L', S), `layers`, `heads`,
    `statistics` (S names), `texts`, `tokens` and `model`."""
    return {
        **stats.sums.to_arrays(),
        "means": stats.means,
        "statistics": np.array(STATISTICS, dtype=np.str_),
        "model": np.array(stats.model, dtype=np.str_),
    }


@dataclass(frozen=True)
class StatsResult:
    """A corpus as the writers see it."""

    stats: CorpusStats
    csv_columns: tuple[str, ...] = STATS_CSV_COLUMNS

    def record(self) -> dict[str, Any]:
        return corpus_record(self.stats)

    def rows(self) -> Iterable[tuple]:
        return corpus_rows(self.stats)
