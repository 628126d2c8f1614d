"""Encode texts, run them through an engine in padded batches, and wrap each as an Inspection."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from attninspect.analysis.inspection import Inspection
from attninspect.errors import InputError
from attninspect.model.tokenization import Encoding, encode


@dataclass(frozen=True)
class SourceText:
    """One input text and where it came from (``line`` is the input file's line number)."""

    text: str
    index: int
    line: int | None = None


def inspect_batch(
    engine: Any, items: list[SourceText], truncate: bool = False
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
        outputs = engine.run_batch([encoding for _, _, encoding in pending])
        seconds = time.perf_counter() - started
        for (position, item, encoding), (attention, shapes) in zip(pending, outputs, strict=True):
            results[position] = Inspection(
                text=item.text,
                tokens=encoding.tokens,
                token_ids=encoding.ids,
                special=encoding.special,
                word_ids=encoding.word_ids,
                attention=attention,
                shapes=shapes,
                model=engine.model_name,
                engine=engine.engine,
                device=engine.device_name,
                dtype=engine.dtype,
                seconds=seconds / len(pending),
                causal=engine.causal,
                offsets=encoding.offsets,
                truncated_from=encoding.truncated_from,
                index=item.index,
                line=item.line,
            )
    return [result for result in results if result is not None]
