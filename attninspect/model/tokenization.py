"""Load tokenizers and turn one text into ids, token strings, special-token flags and word ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attninspect.errors import InputError

# Tokenizers report "no limit" as a huge number; anything past this is treated as no limit.
UNBOUNDED_LENGTH = 1_000_000


@dataclass(frozen=True)
class Encoding:
    """One text, tokenized."""

    ids: list[int]
    tokens: list[str]
    special: list[bool]
    word_ids: list[int | None]
    truncated_from: int | None = None
    type_ids: list[int] | None = None  # token_type_ids, where the tokenizer makes them
    offsets: list[tuple[int, int]] | None = None  # character span of each token in the text

    def __len__(self) -> int:
        return len(self.ids)


def encode(
    tokenizer: Any,
    text: str,
    max_length: int | None,
    truncate: bool,
    line: int | None = None,
    special_tokens: bool = True,
) -> Encoding:
    """Tokenize ``text`` (with the tokenizer's special tokens unless ``special_tokens`` is False,
    as for a rendered chat prompt); refuse empty text and text past ``max_length``."""
    if not text.strip():
        raise InputError("the text is empty" if not text else "the text is only white space", line)
    if "\x00" in text:
        raise InputError("the text contains a NUL byte (binary data?)", line)
    batch = _tokenize(tokenizer, text, add_special_tokens=special_tokens)
    ids = list(batch["input_ids"])
    if not ids:
        raise InputError("the text has no tokens", line)
    truncated_from = None
    if max_length is not None and len(ids) > max_length:
        if not truncate:
            raise InputError(
                f"the text has {len(ids)} tokens but the model takes at most {max_length}; "
                "shorten it or pass --truncate",
                line,
            )
        truncated_from = len(ids)
        batch = _tokenize(
            tokenizer,
            text,
            add_special_tokens=special_tokens,
            truncation=True,
            max_length=max_length,
        )
        ids = list(batch["input_ids"])
    return Encoding(
        ids=ids,
        tokens=[str(token) for token in tokenizer.convert_ids_to_tokens(ids)],
        special=special_flags(tokenizer, ids),
        word_ids=_word_ids(batch, len(ids)),
        truncated_from=truncated_from,
        type_ids=list(batch["token_type_ids"]) if "token_type_ids" in batch else None,
        offsets=[tuple(span) for span in batch["offset_mapping"]]
        if "offset_mapping" in batch
        else None,
    )


def _tokenize(tokenizer: Any, text: str, **options: Any) -> Any:
    """Tokenize with offsets where the tokenizer can give them (fast tokenizers)."""
    if getattr(tokenizer, "is_fast", False):
        return tokenizer(text, verbose=False, return_offsets_mapping=True, **options)
    return tokenizer(text, verbose=False, **options)


def special_flags(tokenizer: Any, ids: list[int]) -> list[bool]:
    """True where an id is one of the tokenizer's special tokens (CLS, SEP, BOS, EOS, PAD, ...)."""
    specials = set(getattr(tokenizer, "all_special_ids", []) or [])
    return [token_id in specials for token_id in ids]


def _word_ids(batch: Any, length: int) -> list[int | None]:
    try:
        word_ids = batch.word_ids()
    except (AttributeError, ValueError):
        return [None] * length
    return list(word_ids) if word_ids is not None else [None] * length


def max_tokens(tokenizer: Any, config: Any | None) -> int | None:
    """The longest input the model can take: the tokenizer's and the position table's limits."""
    limits = []
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < UNBOUNDED_LENGTH:
        limits.append(model_max)
    if config is not None:
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(config, name, None)
            if isinstance(value, int) and 0 < value < UNBOUNDED_LENGTH:
                limits.append(value)
                break
    return min(limits) if limits else None


@dataclass(frozen=True)
class PaddedBatch:
    """Right-padded ids, attention mask (1 = real token) and token type ids (or None)."""

    ids: list[list[int]]
    mask: list[list[int]]
    type_ids: list[list[int]] | None


def pad_batch(encodings: list[Encoding], pad_id: int) -> PaddedBatch:
    """Right-pad several encodings to the longest one."""
    width = max(len(encoding) for encoding in encodings)
    ids = [e.ids + [pad_id] * (width - len(e)) for e in encodings]
    mask = [[1] * len(e) + [0] * (width - len(e)) for e in encodings]
    type_ids = None
    if all(e.type_ids is not None for e in encodings):
        type_ids = [e.type_ids + [0] * (width - len(e)) for e in encodings]  # type: ignore[operator]
    return PaddedBatch(ids, mask, type_ids)
