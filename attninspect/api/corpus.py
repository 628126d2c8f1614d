"""Corpus statistics on the compute side: the per-window function that both engines run.

A window is a run of consecutive input items (texts, or the read errors in their place). Its
texts are encoded, batched by length (`batching.buckets`), streamed layer by layer into one
`StatsDigest` each, and their sums added in input order; what comes back is the window's
partial sums and its failures, small whatever the window held. The local engine folds windows
into a total as they finish; the Ray engine runs the same function in its actors.

On an encoder–decoder model each line is a source, or ``SOURCE<TAB>TARGET`` (teacher forcing,
as `run --target`); a source alone is generated from greedily (``generate`` new tokens). The
chosen kind's layers stream into the digests, the other kinds' are dropped as they arrive.
"""

from __future__ import annotations

import dataclasses
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
from attninspect.analysis.inspection import AttentionKind
from attninspect.analysis.selection import resolve_indices
from attninspect.api.batching import (
    Pending,
    _bases,
    _digest_group,
    _empty,
    _stream_chosen,
    bucketed_groups,
    encode_items,
)
from attninspect.api.seq2seq import DEFAULT_GENERATE, Request, check_request, is_seq2seq
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
    kind: AttentionKind | None = None  # encoder-decoder: encoder, decoder or cross (default)
    generate: int | None = None  # new tokens for a line without a target (None: the default)

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            choices = ", ".join(CONVENTIONS)
            raise BadValueError(f"convention must be one of {choices}, not {self.convention!r}")
        Request(generate=self.generate, kind=self.kind)  # refuses a bad count

    def kind_of(self, engine: Engine) -> AttentionKind:
        """The kind measured (self, or an encoder–decoder's chosen kind); what this model cannot
        do is refused with one line."""
        return check_request(engine, Request(generate=self.generate, kind=self.kind))

    def kept(self, engine: Engine) -> tuple[list[int], list[int]]:
        """The model's layer and head numbers kept (of the kind measured); an out-of-range
        choice raises."""
        kind = self.kind_of(engine)
        layers, heads = (
            engine.layers_of(kind)  # type: ignore[attr-defined]
            if is_seq2seq(engine)
            else (engine.num_layers, engine.num_heads)
        )
        return resolve_indices(self.layers, layers, "layers"), resolve_indices(
            self.heads, heads, "heads"
        )

    def request_for(self, engine: Engine, item: SourceText) -> tuple[SourceText, Request]:
        """The text to encode and what it asks: on an encoder–decoder model ``SOURCE<TAB>TARGET``
        is teacher-forced and a source alone is generated from; elsewhere `generate` applies."""
        kind = self.kind_of(engine)
        if not is_seq2seq(engine):
            return item, Request(generate=self.generate)
        source, tab, target = item.text.partition("\t")
        if tab:
            return dataclasses.replace(item, text=source), Request(target=target, kind=kind)
        return item, Request(generate=self.generate or DEFAULT_GENERATE, kind=kind)


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
    results, pending, requests = _encoded(engine, texts, plan, chat)
    layers, heads = plan.kept(engine)
    finished = 0
    for group in bucketed_groups(engine, pending, (0, 0), plan.batch_size):
        for (position, _, _), result in zip(
            group, _measure(engine, group, plan, requests), strict=True
        ):
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


def _encoded(
    engine: Engine, texts: list[SourceText], plan: StatsPlan, chat: Chat | None
) -> tuple[list, Pending, dict[int, Request]]:
    """`batching.encode_items`; where a line asks more than its text (a target, generation),
    each text with its own request (kept by position: the target's text names its tokens)."""
    if plan.generate is None and not is_seq2seq(engine):
        return (*encode_items(engine, texts, plan.truncate, chat), {})
    results: list = []
    pending: Pending = []
    requests: dict[int, Request] = {}
    for position, item in enumerate(texts):
        text, requests[position] = plan.request_for(engine, item)
        (found,), encoded = encode_items(engine, [text], plan.truncate, chat, requests[position])
        results.append(found)
        pending += [(position, each, encoding) for _, each, encoding in encoded]
    return results, pending, requests


def _measure(
    engine: Engine, group: Pending, plan: StatsPlan, requests: dict[int, Request]
) -> list[CorpusSums | InputError]:
    """One padded forward pass, each text's layers (of the chosen kind) streamed into its
    `StatsDigest`."""
    options = statistics_options(plan.words, plan.hide_special)
    layers, heads = plan.kept(engine)
    if is_seq2seq(engine):
        kind = plan.kind_of(engine)
        bases = [_bases(engine, [each], kind, requests[each[0]])[0] for each in group]
        digests = [StatsDigest(base, options, layers, heads, plan.convention) for base in bases]
        return _stream_chosen(engine, group, digests, kind)
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
