"""Encode texts, run them through an engine in padded batches, and wrap each as an Inspection."""

from __future__ import annotations

import time
from collections.abc import Sequence

from attninspect.analysis.inspection import Inspection
from attninspect.errors import InputError
from attninspect.files.sources import SourceText
from attninspect.model.engines.base import Engine, TextResult, collect
from attninspect.model.tokenization import Encoding, encode


def inspect_batch(
    engine: Engine,
    items: list[SourceText],
    truncate: bool = False,
    layers: Sequence[int] | None = None,
) -> list[Inspection | InputError]:
    """One result per item, in order: an Inspection, or the InputError that item raised."""
    results: list[Inspection | InputError | None] = [None] * len(items)
    pending: list[tuple[int, SourceText, Encoding]] = []
    for position, item in enumerate(items):
        try:
            encoding = encode(engine.tokenizer, item.text, engine.max_length, truncate, item.line)
        except InputError as error:
            results[position] = error
        else:
            pending.append((position, item, encoding))
    if pending:
        started = time.perf_counter()
        outputs = collect(engine, [encoding for _, _, encoding in pending], layers)
        seconds = (time.perf_counter() - started) / len(pending)
        for (position, item, encoding), output in zip(pending, outputs, strict=True):
            results[position] = wrap(engine, item, encoding, output, seconds)
    return [result for result in results if result is not None]


def wrap(
    engine: Engine, item: SourceText, encoding: Encoding, output: TextResult, seconds: float
) -> Inspection:
    """The Inspection of one text: its tokens, its attention and where they came from."""
    return Inspection(
        text=item.text,
        tokens=encoding.tokens,
        token_ids=encoding.ids,
        special=encoding.special,
        word_ids=encoding.word_ids,
        attention=output.attention,
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
    )
