"""Encode texts, run them through an engine in padded batches, and wrap each as an Inspection."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.digest import (
    BatchFeed,
    TextDigest,
    WholeLayers,
    batch_feed,
    column_feed,
    per_text_feed,
    row_feed,
)
from attninspect.analysis.head_ranking import HeadSearch
from attninspect.analysis.inspection import AttentionKind, Inspection
from attninspect.analysis.measures import MEASURE_PARTS, Measure, layer_measured, measured
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.record import HeadVectors
from attninspect.analysis.selection import View
from attninspect.api.flows import DiffPlan, diff_of, head_digest, plan_diff
from attninspect.api.kind_measures import kind_tap
from attninspect.api.seq2seq import (
    ChosenKind,
    KindDigests,
    Request,
    check_request,
    digest_kinds,
    is_seq2seq,
    kind_bases,
    marks,
    prepared,
)
from attninspect.errors import AttnInspectError, InputError
from attninspect.files.sources import SourceText
from attninspect.model.chat import Chat, render
from attninspect.model.engines.base import Engine, TextResult, collect
from attninspect.model.engines.seam import (
    NO_PARTS,
    VECTOR_PARTS,
    LayerParts,
    RowRequest,
    TapRequest,
    capture_refusal,
)
from attninspect.model.estimate import DoesNotFit, estimate_batch
from attninspect.model.memory import available_bytes
from attninspect.model.tokenization import Encoding, encode, encode_many

Pending = list[tuple[int, SourceText, Encoding]]
PLAIN = Request()
Finished_co = TypeVar("Finished_co", covariant=True)
# Length-bucketed batches: a padded forward pass holds at most this many tokens (texts x longest).
TOKEN_BUDGET = 8192


def encode_items(
    engine: Engine,
    items: list[SourceText],
    truncate: bool,
    chat: Chat | None = None,
    request: Request = PLAIN,
) -> tuple[list, Pending]:
    """Each item's encoding, or its InputError in place: (results so far, texts to run).
    With ``chat``, an item's text becomes the prompt the chat template makes of it; ``request``
    adds a pair, a target or generated tokens (`seq2seq.prepared`)."""
    results: list = [None] * len(items)
    pending: Pending = []
    if chat is None and request.plain and not is_seq2seq(engine):  # one tokenizer call
        texts = [(item.text, item.line) for item in items]
        encoded = encode_many(engine.tokenizer, texts, engine.max_length, truncate)
        for position, (item, found) in enumerate(zip(items, encoded, strict=True)):
            if isinstance(found, InputError):
                results[position] = found
            else:
                pending.append((position, item, found))
        return results, pending
    for position, item in enumerate(items):
        try:
            if chat is not None:
                prompt = render(engine.tokenizer, chat, item.text, item.line)
                item = dataclasses.replace(item, text=prompt)
            encoding = _encoded(engine, item, truncate, chat is None, request)
        except InputError as error:
            results[position] = error
        else:
            pending.append((position, item, encoding))
    return results, pending


def _encoded(
    engine: Engine, item: SourceText, truncate: bool, special_tokens: bool, request: Request
) -> Encoding:
    """One text's encoding, with what ``request`` adds (a pair, a target, generated tokens)."""
    encoding = None
    if request.pair is None:
        encoding = encode(
            engine.tokenizer, item.text, engine.max_length, truncate, item.line, special_tokens
        )
        if request.plain and not is_seq2seq(engine):
            return encoding
    return prepared(engine, item, encoding, request, truncate)


def fitting_groups(
    engine: Engine, pending: Pending, kept: tuple[int, int], fast: bool = False
) -> list[Pending]:
    """``pending`` cut into consecutive padded batches whose estimated peak fits in the memory
    available (halving as often as needed); a single text that cannot fit is refused.
    ``fast``: only the kept layers are computed whole (`row_request`)."""
    if not pending:
        return []
    lengths = [len(encoding) for _, _, encoding in pending]
    targets = [len(e.target) for _, _, e in pending if e.target is not None]
    estimate = estimate_batch(engine.sizes, lengths, *kept, targets=targets or None, fast=fast)
    free = available_bytes(engine.device)
    if estimate.beyond_weights <= free:
        return [pending]
    if len(pending) == 1:
        raise DoesNotFit(estimate, free, engine.device_name, lengths[0])
    half = len(pending) // 2
    return fitting_groups(engine, pending[:half], kept, fast) + fitting_groups(
        engine, pending[half:], kept, fast
    )


def buckets(pending: Pending, batch_size: int, budget: int = TOKEN_BUDGET) -> list[Pending]:
    """``pending`` sorted by token length (ties in input order) and cut into batches of at most
    ``batch_size`` texts and ``budget`` padded tokens, so that little of each pass is padding."""
    groups: list[Pending] = []
    current: Pending = []
    for entry in sorted(pending, key=lambda entry: len(entry[2])):
        full = len(current) >= batch_size or (len(current) + 1) * len(entry[2]) > budget
        if current and full:
            groups.append(current)
            current = []
        current.append(entry)
    return [*groups, current] if current else groups


def bucketed_groups(
    engine: Engine,
    pending: Pending,
    kept: tuple[int, int],
    batch_size: int | None,
    fast: bool = False,
) -> list[Pending]:
    """The forward passes for ``pending``: by length under ``batch_size`` (None: one batch in
    input order, as before), each cut further where its memory estimate does not fit."""
    parts = [pending] if batch_size is None else buckets(pending, batch_size)
    return [group for part in parts for group in fitting_groups(engine, part, kept, fast)]


def inspect_batch(
    engine: Engine,
    items: list[SourceText],
    truncate: bool = False,
    layers: Sequence[int] | None = None,
    chat: Chat | None = None,
    request: Request = PLAIN,
    measure: Measure = "weights",
) -> list[Inspection | InputError]:
    """One result per item, in order: an Inspection, or the InputError that item raised (an
    encoder–decoder model's: the chosen kind, with every layer of the others in ``others``).
    ``measure``: what the attention holds (`analysis.measures`); the query, key and value
    vectors of the kept layers come along where the engine hands them over."""
    parts = tap_parts(engine, measure)
    if is_seq2seq(engine):  # every kind whole, with its head sums and vectors
        keep, options = WholeLayers(wanted=True), ViewOptions(measure=measure)
        viewed = view_batch(engine, items, options, keep, truncate, chat, None, request, True)
        return [each if isinstance(each, InputError) else each[0] for each in viewed]
    results, pending = encode_items(engine, items, truncate, chat, request)
    kept = (engine.num_layers if layers is None else len(layers), engine.num_heads)
    for group in fitting_groups(engine, pending, kept):
        started = time.perf_counter()
        outputs = collect(engine, [encoding for _, _, encoding in group], layers, parts)
        seconds = (time.perf_counter() - started) / len(group)
        for (position, item, encoding), output in zip(group, outputs, strict=True):
            results[position] = wrap(engine, item, encoding, output, seconds, measure)
    return [result for result in results if result is not None]


def tap_parts(engine: Engine, measure: Measure) -> frozenset[str]:
    """What to tap for ``measure``, with the query, key and value vectors where the engine gives
    them; a measure the engine cannot make is refused in one line naming the model class."""
    needed = MEASURE_PARTS[measure]
    captures = frozenset(getattr(engine, "captures", NO_PARTS))
    missing = sorted(needed - captures)
    if missing:
        raise AttnInspectError(capture_refusal(engine, missing, f"--measure {measure}"))
    return needed | (VECTOR_PARTS & captures)


def wrap(
    engine: Engine,
    item: SourceText,
    encoding: Encoding,
    output: TextResult,
    seconds: float,
    measure: Measure = "weights",
) -> Inspection:
    """The Inspection of one text: its tokens, its attention (as ``measure`` measures it), the
    kept layers' vectors and where they came from."""
    attention, head_sum = measured(measure, output.attention, output.parts)
    vectors = None
    if output.parts and output.parts[0].queries is not None:
        vectors = HeadVectors(
            layers=[found.layer for found in output.parts],
            queries=[found.queries for found in output.parts if found.queries is not None],
            keys=[found.keys for found in output.parts if found.keys is not None],
            values=[found.values for found in output.parts if found.values is not None],
        )
    return Inspection(
        measure=measure,
        head_sum=head_sum,
        vectors=vectors,
        text=item.text,
        tokens=encoding.tokens,
        token_ids=encoding.ids,
        special=encoding.special,
        word_ids=encoding.word_ids,
        attention=attention,
        shapes=output.shapes,
        model=engine.model_name,
        engine=engine.kind,
        device=engine.device_name,
        dtype=engine.dtype,
        seconds=seconds,
        causal=engine.causal,
        offsets=encoding.offsets,
        truncated_from=encoding.truncated_from,
        index=item.index,
        line=item.line,
        **marks(encoding),
    )


Viewed = tuple[Inspection, View]


def view_batch(
    engine: Engine,
    items: list[SourceText],
    options: ViewOptions,
    keep: WholeLayers,
    truncate: bool,
    chat: Chat | None = None,
    batch_size: int | None = None,
    request: Request = PLAIN,
    whole: bool = False,
) -> list[Viewed | InputError]:
    """Padded forward passes (by length under ``batch_size``; one pass without it), each layer
    analysed as it arrives and then dropped: per item, in input order, the analysed inspection
    and its view (as `pipeline.view_of` makes them), or an error. ``request`` adds a pair, a
    target, generated tokens, and chooses the attention kind. ``whole``: the Python API's
    inspections of an encoder–decoder model (`kind_measures.KindTap`)."""
    kind = check_request(engine, request)
    results, pending = encode_items(engine, items, truncate, chat, request)
    fast = runs_fast(engine, options)
    kept = _kept_sizes(engine, keep)
    for group in bucketed_groups(engine, pending, kept, batch_size, fast):
        viewed = (
            _view_kinds(engine, group, options, keep, kind, request, whole)
            if is_seq2seq(engine)
            else _view_group(engine, group, options, keep)
        )
        for (position, _, _), result in zip(group, viewed, strict=True):
            results[position] = result
    return [result for result in results if result is not None]


def _kept_sizes(engine: Engine, keep: WholeLayers) -> tuple[int, int]:
    """How many whole layers and heads the output keeps, for the memory estimate."""
    if not keep.wanted:
        return (0, 0)
    return len(keep.layer_ids(engine.num_layers)), len(keep.head_ids(engine.num_heads))


def runs_fast(engine: Engine, options: ViewOptions) -> bool:
    """Whether a view's layers that no output needs whole run fast attention, only the rows
    shown computed (`row_request`): on an engine that can, unless rollout, head statistics or
    another measure than weights (its parts are tapped from eager layers) need every layer
    whole."""
    whole = options.rollout or options.stats or options.measure != "weights"
    return bool(getattr(engine, "fast", False)) and not whole


def row_request(
    engine: Engine, digests: Sequence[TextDigest], lengths: list[int]
) -> RowRequest | None:
    """The layers no digest needs whole, with the query rows any of them wants (`row_needs`),
    for a fast engine; None where every layer goes whole."""
    if not getattr(engine, "fast", False) or not digests:
        return None
    whole: set[int] = set()
    rows: dict[int, set[int] | None] = {}
    columns: dict[int, set[int]] = {}
    for digest in digests:
        needs = digest.row_needs()
        if needs is None:
            return None
        kept, wanted = needs
        whole |= kept
        for layer, keys in digest.wanted_columns.items():
            columns.setdefault(layer, set()).update(keys)
        for layer, positions in wanted.items():
            if positions is None or rows.get(layer, set()) is None:
                rows[layer] = None
            else:
                rows[layer] = (rows.get(layer) or set()) | set(positions)
    layers = frozenset(range(engine.num_layers)) - whole
    if not layers:
        return None
    block, done = row_feed(digests, lengths)
    asked = {
        layer: None if found is None else tuple(sorted(found))
        for layer, found in rows.items()
        if layer in layers
    }
    special = {layer: tuple(sorted(keys)) for layer, keys in columns.items() if layer in layers}
    return RowRequest(layers, asked, block, done, special, column_feed(digests, lengths))


def _view_group(
    engine: Engine, pending: Pending, options: ViewOptions, keep: WholeLayers
) -> list[Viewed | InputError]:
    """One padded forward pass for ``pending``, each text digested layer by layer (the
    layers no output needs whole as rows only, where the engine runs them fast)."""
    digests = [
        TextDigest(_empty(engine, item, encoding), options, keep, engine.num_layers)
        for _, item, encoding in pending
    ]
    lengths = [len(encoding) for _, _, encoding in pending]
    tap, feed = measuring(engine, options, batch_feed(digests, lengths))
    fast = tap is None and runs_fast(engine, options)
    rows = row_request(engine, digests, lengths) if fast else None
    return _digest_group(engine, pending, digests, feed, tap, rows)


def measuring(
    engine: Engine, options: ViewOptions, feed: BatchFeed, every_head: bool = False
) -> tuple[TapRequest | None, BatchFeed]:
    """``feed`` as is for weights; for another measure, the tap that each layer's parts come
    from and a feed that hands the digests that layer as ``options.measure`` measures it:
    scores (B, H, Tq, Tk), norms per head (B, H, Tq, Tk), or for the head mean of norms the
    norm of the sum over heads as one head (B, 1, Tq, Tk); ``every_head``: each head's own
    norms whatever ``options.head`` is (`heads` ranks them)."""
    if options.measure == "weights":
        return None, feed
    waiting: dict[int, LayerParts] = {}  # a layer's parts arrive just before its weights
    tap = TapRequest(
        MEASURE_PARTS[options.measure],
        {"self": frozenset(range(engine.num_layers))},
        lambda parts: waiting.__setitem__(parts.layer, parts),
    )

    def fed(layer: int, weights: np.ndarray) -> None:  # (B, H, Tq, Tk)
        parts = waiting.pop(layer)
        head_sum = options.head == "mean" and not every_head
        feed(layer, layer_measured(options.measure, weights, parts, head_sum))

    return tap, fed


def _view_kinds(
    engine: Engine,
    pending: Pending,
    options: ViewOptions,
    keep: WholeLayers,
    kind: AttentionKind,
    request: Request,
    whole: bool = False,
) -> list[Viewed | InputError]:
    """One padded pass of an encoder–decoder model, each text's three kinds digested (as
    ``options.measure`` measures them: the chosen kind, and the others where kept whole)."""
    every = keep.wanted or whole
    digests = [
        KindDigests.of(_kinds_of(engine, item, encoding, request), kind, options, keep, every)
        for _, item, encoding in pending
    ]
    tap = kind_tap(engine, options.measure, options.head, kind, every, whole)
    return digest_kinds(engine, pending, digests, tap)


def _kinds_of(
    engine: Engine, item: SourceText, encoding: Encoding, request: Request
) -> dict[AttentionKind, Inspection]:
    """An encoder–decoder text's three kinds before any layer (`seq2seq.kind_bases`)."""
    base = _empty(engine, item, encoding)
    target = request.target
    if target is None and encoding.target is not None:
        target = engine.tokenizer.decode(encoding.target.ids, skip_special_tokens=True)
    return kind_bases(base, encoding, target or "", engine.layers_of)  # type: ignore[attr-defined]


def _bases(
    engine: Engine, pending: Pending, kind: AttentionKind, request: Request
) -> list[Inspection]:
    """Each text's Inspection before any layer: of the chosen ``kind`` for an encoder–decoder."""
    if not is_seq2seq(engine):
        return [_empty(engine, item, encoding) for _, item, encoding in pending]
    return [_kinds_of(engine, item, encoding, request)[kind] for _, item, encoding in pending]


def _stream_chosen(
    engine: Engine, pending: Pending, digests: Sequence[Any], kind: AttentionKind
) -> list:
    """One padded forward pass, each text's layers streamed into its digest: for an
    encoder–decoder model those of the chosen ``kind`` only, the others dropped as they come
    (as `run` streams them), so no kind is kept whole."""
    if not is_seq2seq(engine):
        return _digest_group(engine, pending, digests)
    return digest_kinds(engine, pending, [ChosenKind(kind, digest) for digest in digests])


def _stream_measured(
    engine: Engine,
    pending: Pending,
    digests: Sequence[Any],
    kind: AttentionKind,
    options: ViewOptions,
    every_head: bool = False,
) -> list:
    """`_stream_chosen`, with each layer as ``options.measure`` measures it (`measuring`;
    `kind_measures` for the chosen kind of an encoder–decoder model); ``every_head``: each
    head's own norms, whatever ``options.head`` is."""
    if options.measure == "weights":
        return _stream_chosen(engine, pending, digests, kind)
    if is_seq2seq(engine):
        head = None if every_head else options.head
        kinds = kind_tap(engine, options.measure, head, kind, False, False)
        return digest_kinds(engine, pending, [ChosenKind(kind, each) for each in digests], kinds)
    lengths = [len(encoding) for _, _, encoding in pending]
    tap, feed = measuring(engine, options, per_text_feed(digests, lengths), every_head)
    return _digest_group(engine, pending, digests, feed, tap)


class LayerConsumer(Protocol[Finished_co]):
    """What `_digest_group` feeds: a text's `TextDigest` or `HeadDigest`."""

    base: Inspection

    def add(self, layer: int, attention: np.ndarray) -> None: ...

    def finish(self, seconds: float) -> Finished_co: ...


def _digest_group(
    engine: Engine,
    pending: Pending,
    digests: Sequence[LayerConsumer[Finished_co]],
    feed: BatchFeed | None = None,
    tap: TapRequest | None = None,
    rows: RowRequest | None = None,
) -> list[Finished_co]:
    """One padded forward pass for ``pending``, each layer handed to its text's digest (a
    `TextDigest`, `HeadDigest` or `StatsDigest`), by ``feed`` where the digests' module
    measures a whole batch at once; what each digest's ``finish`` makes of it, in order."""
    lengths = [len(encoding) for _, _, encoding in pending]
    consume = feed or per_text_feed(digests, lengths)
    started = time.perf_counter()
    encodings = [encoding for _, _, encoding in pending]
    if rows is None:
        shapes = engine.stream_batch(encodings, consume, tap)
    else:
        shapes = engine.stream_batch(encodings, consume, tap, rows)
    seconds = (time.perf_counter() - started) / len(pending)
    finished = []
    for digest, stages in zip(digests, shapes, strict=True):
        digest.base = dataclasses.replace(digest.base, shapes={**stages, **digest.base.shapes})
        finished.append(digest.finish(seconds))
    return finished


def _empty(engine: Engine, item: SourceText, encoding: Encoding) -> Inspection:
    """The text's Inspection before any layer: tokens and metadata, no attention yet."""
    n, heads = len(encoding), engine.num_heads
    empty = np.zeros((0, heads, n, n), np.float32)  # (0, H, T, T)
    shapes = {"attention": [engine.num_layers, heads, n, n]}
    return wrap(engine, item, encoding, TextResult(empty, shapes), 0.0)


NEURON_PARTS = frozenset({"queries", "keys", "values", "scores"})


def neurons_pass(
    engine: Engine,
    item: SourceText,
    layer: int,
    truncate: bool,
    chat: Chat | None = None,
) -> tuple[Inspection, LayerParts]:
    """One text run for the neuron view: the weights of ``layer`` alone (1, H, T, T) and its
    queries, keys, values and scores; nothing of the other layers is kept. A bad text (as
    `Inspector.run` words it) raises; a model without the tap is refused first."""
    missing = sorted(NEURON_PARTS - frozenset(getattr(engine, "captures", NO_PARTS)))
    if missing or is_seq2seq(engine):
        raise AttnInspectError(
            capture_refusal(engine, missing, "the neuron view")
            if missing
            else "the neuron view is not built yet for encoder-decoder models"
        )
    (error,), pending = encode_items(engine, [item], truncate, chat)
    if error is not None:
        raise InputError(f"the text: {error}") from error
    fitting_groups(engine, pending, (1, engine.num_heads))  # refuses a text that cannot fit
    _, item, encoding = pending[0]
    started = time.perf_counter()
    (output,) = collect(engine, [encoding], [layer], NEURON_PARTS)
    inspection = wrap(engine, item, encoding, output, time.perf_counter() - started)
    return inspection, output.parts[0]


def search_streamed(
    engine: Engine,
    item: SourceText,
    source: str,
    target: str,
    words: bool,
    truncate: bool,
    chat: Chat | None = None,
    request: Request = PLAIN,
    measure: Measure = "weights",
) -> HeadSearch:
    """`flows.search_heads` for one text, streamed: each layer's (H,) from -> to weights kept,
    no (L, H, T, T) tensor (of any kind: ``request`` adds a pair, a target or generated tokens
    and chooses the kind); ``measure``: each head's own scores or norms in their place. A bad
    text (as `Inspector.run` words it) or selector raises."""
    kind = check_request(engine, request)
    (error,), pending = encode_items(engine, [item], truncate, chat, request)
    if error is not None:
        raise InputError(f"the text: {error}") from error
    fitting_groups(engine, pending, (0, 0))  # refuses a text that cannot fit
    (base,) = _bases(engine, pending, kind, request)
    digest = head_digest(base, source, target, words, measure)
    (search,) = _stream_measured(engine, pending, [digest], kind, digest.options, True)
    return search


def encode_pair(
    engine: Engine,
    items: list[SourceText],
    truncate: bool,
    chat: Chat | None = None,
    request: Request = PLAIN,
) -> Pending:
    """Both texts of `diff` encoded; a bad one raises its error as ``text 0: ...``."""
    results, pending = encode_items(engine, items, truncate, chat, request)
    for position, error in enumerate(results):
        if error is not None:
            raise InputError(f"text {position}: {error}") from error
    return pending


def diff_streamed(
    engine: Engine,
    pending: Pending,
    options: ViewOptions,
    keep: WholeLayers,
    request: Request = PLAIN,
) -> TextDiff:
    """Two texts compared, streamed: both texts in one padded batch, each layer digested (the
    selected matrix and the focus rows kept, whole layers only as ``keep`` asks), then compared,
    as ``options.measure`` measures them. For an encoder–decoder model only the kind
    ``request`` chooses is digested."""
    kind = check_request(engine, request)
    bases = _bases(engine, pending, kind, request)
    plan = plan_diff(bases[0], bases[1], options)
    digests = [
        TextDigest(base, view_options, keep, base.shapes["attention"][0])
        for base, view_options in zip(bases, (options, plan.options_b), strict=True)
    ]
    finished: list[Viewed | InputError] = []
    for group in fitting_groups(engine, pending, _kept_sizes(engine, keep)):
        chosen = [digests[position] for position, _, _ in group]
        finished += _stream_measured(engine, group, chosen, kind, options)
    return _compared(plan, digests, finished, options.top)


def _compared(
    plan: DiffPlan, digests: list[TextDigest], finished: list[Viewed | InputError], top: int
) -> TextDiff:
    sides = []
    for digest, result in zip(digests, finished, strict=True):
        if isinstance(result, InputError):
            raise result
        sides.append((*result, np.stack(digest.rows) if digest.rows else None))  # (L, T')
    return diff_of(plan, sides[0], sides[1], top)
