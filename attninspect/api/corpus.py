"""Corpus statistics on the compute side: the per-window function that both engines run.

A window is a run of consecutive input items (texts, or the read errors in their place). Its
texts are encoded, batched by length (`batching.buckets`), streamed layer by layer into one
`StatsDigest` each, and their sums added in input order; what comes back is the window's
partial sums and its failures, small whatever the window held. The local engine folds windows
into a total as they finish; the Ray engine runs the same function in its actors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from attninspect.analysis.corpus import (
    ATTNINSPECT,
    CONVENTIONS,
    CorpusSums,
    StatsDigest,
    statistics_options,
    stats_feed,
)
from attninspect.analysis.selection import resolve_indices
from attninspect.api.batching import Pending, _digest_group, _empty, bucketed_groups, encode_items
from attninspect.errors import BadValueError, InputError
from attninspect.files.sources import Item, SourceText
from attninspect.model.chat import Chat
from attninspect.model.engines.base import Engine


@dataclass(frozen=True)
class StatsPlan:
    """What `stats` measures: the analysis steps, the layers and heads kept (IndexSpecs), and
    how the statistics are averaged (`corpus.CONVENTIONS`)."""

    words: bool = False
    hide_special: bool = False
    layers: int | slice | None = None
    heads: int | slice | None = None
    batch_size: int = 16
    truncate: bool = False
    convention: str = ATTNINSPECT

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            choices = ", ".join(CONVENTIONS)
            raise BadValueError(f"convention must be one of {choices}, not {self.convention!r}")

    def kept(self, engine: Engine) -> tuple[list[int], list[int]]:
        """The model's layer and head numbers kept; an out-of-range choice raises."""
        return (
            resolve_indices(self.layers, engine.num_layers, "layers"),
            resolve_indices(self.heads, engine.num_heads, "heads"),
        )


@dataclass
class WindowStats:
    """A window's partial sums, its failures in input order and its truncation notes."""

    sums: CorpusSums
    failures: list[InputError] = field(default_factory=list)
    truncated: list[InputError] = field(default_factory=list)  # "line N: text truncated ..."

    def add(self, other: WindowStats) -> None:
        self.sums.add(other.sums)
        self.failures += other.failures
        self.truncated += other.truncated


def empty_stats(engine: Engine, plan: StatsPlan) -> WindowStats:
    return WindowStats(CorpusSums.empty(*plan.kept(engine)))


def stats_window(
    engine: Engine,
    items: list[Item],
    plan: StatsPlan,
    chat: Chat | None = None,
    done: Callable[[int], None] | None = None,
) -> WindowStats:
    """One window: every text's sums added in input order, failures kept in their order.
    ``done(n)``: told after each forward pass how many texts it finished, and at the end how
    many more the window held (its failures), so a progress bar moves as texts finish."""
    texts = [item for item in items if isinstance(item, SourceText)]
    results, pending = encode_items(engine, texts, plan.truncate, chat)
    layers, heads = plan.kept(engine)
    finished = 0
    for group in bucketed_groups(engine, pending, (0, 0), plan.batch_size):
        for (position, _, _), result in zip(group, _measure(engine, group, plan), strict=True):
            results[position] = result
        finished += len(group)
        if done is not None:
            done(len(group))
    if done is not None and len(items) > finished:
        done(len(items) - finished)
    found = WindowStats(CorpusSums.empty(layers, heads))
    computed = iter(results)
    for item in items:
        result = item if isinstance(item, InputError) else next(computed)
        if isinstance(result, InputError):
            found.failures.append(result)
        else:
            found.sums.add(result)
    found.truncated = _truncated(pending)
    return found


def _measure(engine: Engine, group: Pending, plan: StatsPlan) -> list[CorpusSums | InputError]:
    """One padded forward pass, each text's layers streamed into its `StatsDigest`."""
    options = statistics_options(plan.words, plan.hide_special)
    layers, heads = plan.kept(engine)
    digests = [
        StatsDigest(_empty(engine, item, encoding), options, layers, heads, plan.convention)
        for _, item, encoding in group
    ]
    lengths = [len(encoding) for _, _, encoding in group]
    return _digest_group(engine, group, digests, stats_feed(digests, lengths))


def _truncated(pending: Pending) -> list[InputError]:
    """A note for each text that --truncate cut, in input order."""
    notes = []
    for _, item, encoding in pending:
        if encoding.truncated_from is not None:
            message = f"text truncated from {encoding.truncated_from} to {len(encoding)} tokens"
            notes.append(InputError(f"{message} (--truncate)", item.line))
    return notes
