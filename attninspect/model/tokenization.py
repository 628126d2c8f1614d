"""Load tokenizers and turn one text into ids, token strings, special-token flags and word ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attninspect.errors import InputError

# Tokenizers report "no limit" as a huge number; anything past this is treated as no limit.
UNBOUNDED_LENGTH = 1_000_000
# A text longer than this many characters per token of the limit is first tokenized by a prefix
# of that length: if the prefix alone is over the limit, the whole text is never tokenized.
CHARS_PER_TOKEN = 16
# Without a token limit, texts longer than this are refused before tokenizing.
MAX_TEXT_CHARS = 1 << 20
# Models whose position ids start after the padding id (RoBERTa's offset of pad_token_id + 1).
OFFSET_POSITION_TYPES = frozenset(
    {"roberta", "xlm-roberta", "camembert", "roberta-prelayernorm", "data2vec-text", "ibert",
     "longformer", "mpnet", "xmod", "xlm-roberta-xl"}
)  # fmt: skip


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
    pair_start: int | None = None  # where the second text of a pair starts (``run A --pair B``)
    prompt_length: int | None = None  # tokens before the generated ones (``--generate``)
    target: Encoding | None = None  # an encoder–decoder model's decoder tokens

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
    check_text(text, max_length, line)
    batch, count, at_least = _tokenize_bounded(tokenizer, text, max_length, special_tokens)
    ids = list(batch["input_ids"])
    if not ids:
        raise InputError("the text has no tokens", line)
    truncated_from = None
    if max_length is not None and count > max_length:
        if not truncate:
            raise InputError(
                f"the text has {'more than ' * at_least}{count} tokens but the model takes at "
                f"most {max_length}; shorten it or pass --truncate",
                line,
            )
        truncated_from = _real_count(tokenizer, text, count, at_least, special_tokens)
        batch = _tokenize(
            tokenizer,
            _prefix(text, max_length),
            add_special_tokens=special_tokens,
            truncation=True,
            max_length=max_length,
        )
        ids = list(batch["input_ids"])
        if len(ids) > max_length or all(special_flags(tokenizer, ids)):
            raise InputError(
                f"the model takes at most {max_length} tokens, fewer than its own special tokens "
                f"and one token of text need ({len(ids)}); this model cannot inspect text",
                line,
            )
    return _encoding_of(tokenizer, batch, ids, truncated_from=truncated_from)


def encode_many(
    tokenizer: Any,
    texts: Sequence[tuple[str, int | None]],
    max_length: int | None,
    truncate: bool,
) -> list[Encoding | InputError]:
    """`encode` for many (text, line) pairs, each result the same as `encode` gives (or the
    InputError it raises); with a fast tokenizer, the texts that fit are tokenized in one call,
    and only the others (long, empty, refused) go through `encode` one by one."""
    found: list[Encoding | InputError | None] = [None] * len(texts)
    quick = []
    for position, (text, line) in enumerate(texts):
        try:
            check_text(text, max_length, line)
        except InputError as error:
            found[position] = error
            continue
        if max_length is None or _prefix(text, max_length) == text:
            quick.append(position)
    if quick and getattr(tokenizer, "is_fast", False):
        batch = tokenizer(
            [texts[position][0] for position in quick], verbose=False, return_offsets_mapping=True
        )
        specials = special_ids(tokenizer)
        for slot, position in enumerate(quick):
            ids = list(batch["input_ids"][slot])
            if ids and (max_length is None or len(ids) <= max_length):
                found[position] = _encoding_of(tokenizer, batch, ids, slot, specials=specials)
    for position, (text, line) in enumerate(texts):
        if found[position] is None:
            try:
                found[position] = encode(tokenizer, text, max_length, truncate, line)
            except InputError as error:
                found[position] = error
    return [each for each in found if each is not None]


def _encoding_of(
    tokenizer: Any,
    batch: Any,
    ids: list[int],
    slot: int | None = None,
    truncated_from: int | None = None,
    specials: frozenset[int] | None = None,
) -> Encoding:
    """The Encoding of ``ids`` as ``batch`` tokenized them: one text's batch, or text ``slot``
    of many (``specials``: the tokenizer's `special_ids`, when the caller has them)."""

    def of_text(name: str) -> Any:
        if name not in batch:
            return None
        return batch[name] if slot is None else batch[name][slot]

    type_ids, offsets = of_text("token_type_ids"), of_text("offset_mapping")
    specials = special_ids(tokenizer) if specials is None else specials
    return Encoding(
        ids=ids,
        tokens=[str(token) for token in tokenizer.convert_ids_to_tokens(ids)],
        special=[token_id in specials for token_id in ids],
        word_ids=_word_ids(batch, len(ids), slot or 0),
        truncated_from=truncated_from,
        type_ids=list(type_ids) if type_ids is not None else None,
        offsets=[tuple(span) for span in offsets] if offsets is not None else None,
    )


def _real_count(tokenizer: Any, text: str, count: int, at_least: bool, special_tokens: bool) -> int:
    """The text's token count, where ``count`` was only its prefix's (a truncation warning
    reports the real length)."""
    if not at_least or len(text) > MAX_TEXT_CHARS:
        return count
    return len(tokenizer(text, verbose=False, add_special_tokens=special_tokens)["input_ids"])


def check_text(text: str, max_length: int | None, line: int | None) -> None:
    """Refuse, before tokenizing, text that is empty, binary, not UTF-8, or unboundedly long."""
    if not text.strip():
        raise InputError("the text is empty" if not text else "the text is only white space", line)
    if "\x00" in text:
        raise InputError("the text contains a NUL byte (binary data?)", line)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"the text is not valid UTF-8 (undecodable bytes at character {error.start + 1})", line
        ) from None
    if max_length is None and len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"the text has {len(text)} characters; attninspect takes at most {MAX_TEXT_CHARS}",
            line,
        )


def _prefix(text: str, max_length: int) -> str:
    """The start of ``text`` that can hold ``max_length`` tokens, cut at white space if possible."""
    bound = max_length * CHARS_PER_TOKEN
    if len(text) <= bound:
        return text
    cut = text.rfind(" ", bound // 2, bound)
    return text[: cut if cut > 0 else bound]


def _tokenize_bounded(
    tokenizer: Any, text: str, max_length: int | None, special_tokens: bool = True
) -> tuple[Any, int, bool]:
    """Tokenize ``text``, or only a prefix when that already exceeds ``max_length``.

    Returns the tokenized batch, the token count, and whether the count is only a lower bound
    (the prefix's: the whole text has at least as many tokens).
    """
    if max_length is not None:
        prefix = _prefix(text, max_length)
        if prefix != text:
            batch = _tokenize(tokenizer, prefix, add_special_tokens=special_tokens)
            if len(batch["input_ids"]) > max_length:
                return batch, len(batch["input_ids"]), True
    batch = _tokenize(tokenizer, text, add_special_tokens=special_tokens)
    return batch, len(batch["input_ids"]), False


def _tokenize(tokenizer: Any, text: str, **options: Any) -> Any:
    """Tokenize with offsets where the tokenizer can give them (fast tokenizers)."""
    if getattr(tokenizer, "is_fast", False):
        return tokenizer(text, verbose=False, return_offsets_mapping=True, **options)
    return tokenizer(text, verbose=False, **options)


def special_flags(tokenizer: Any, ids: list[int]) -> list[bool]:
    """True where an id is a special token the tokenizer adds or reserves (CLS, SEP, BOS, EOS,
    PAD, MASK, ...), typed in the text or not. The unknown token is not special: it stands for
    real text (emoji, rare scripts) that the vocabulary lacks."""
    specials = special_ids(tokenizer)
    return [token_id in specials for token_id in ids]


def special_ids(tokenizer: Any) -> frozenset[int]:
    """The tokenizer's special ids but the unknown token's (unless it doubles as BOS, EOS, ...)."""
    tokens = {str(t) for t in getattr(tokenizer, "all_special_tokens", None) or []}
    unknown = getattr(tokenizer, "unk_token", None)
    named = dict(getattr(tokenizer, "special_tokens_map", None) or {})
    named.pop("unk_token", None)
    if unknown is not None and str(unknown) not in {str(v) for v in named.values()}:
        tokens.discard(str(unknown))
    ordered = sorted(tokens)
    ids = tokenizer.convert_tokens_to_ids(ordered) if ordered else []
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    return frozenset(
        i
        for token, i in zip(ordered, ids, strict=True)
        if isinstance(i, int) and (i != unknown_id or token == unknown)
    )


def _word_ids(batch: Any, length: int, index: int = 0) -> list[int | None]:
    try:
        word_ids = batch.word_ids(index)
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
                limits.append(value - _position_offset(config))
                break
    return max(min(limits), 0) if limits else None


def _position_offset(config: Any) -> int:
    """Position ids that come before the first token (RoBERTa-style models: pad id + 1)."""
    pad = getattr(config, "pad_token_id", None)
    if getattr(config, "model_type", None) in OFFSET_POSITION_TYPES and isinstance(pad, int):
        return pad + 1
    return 0


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


def encode_pair(
    tokenizer: Any,
    text: str,
    pair: str,
    max_length: int | None,
    truncate: bool,
    line: int | None = None,
) -> Encoding:
    """Two texts as the tokenizer joins them (``tokenizer(text, pair)``: its separators and
    token type ids); ``pair_start`` is the first token of the second text. Offsets index the
    first text only (the second's tokens get (0, 0))."""
    check_text(text, max_length, line)
    try:
        check_text(pair, max_length, line)
    except InputError as error:
        raise InputError(f"--pair: {error.reason}", line) from None
    batch = _tokenize(tokenizer, text, text_pair=pair)
    count = len(batch["input_ids"])
    if max_length is not None and count > max_length:
        if not truncate:
            raise InputError(
                f"the pair has {count} tokens but the model takes at most {max_length}; "
                "shorten it or pass --truncate",
                line,
            )
        batch = _tokenize(tokenizer, text, text_pair=pair, truncation=True, max_length=max_length)
    ids = list(batch["input_ids"])
    sides = _sequence_ids(batch, len(ids))
    start = next((i for i, side in enumerate(sides) if side == 1), len(ids))
    offsets = None
    if "offset_mapping" in batch:
        offsets = [tuple(span) if side != 1 else (0, 0) for span, side in
                   zip(batch["offset_mapping"], sides, strict=True)]  # fmt: skip
    return Encoding(
        ids=ids,
        tokens=[str(token) for token in tokenizer.convert_ids_to_tokens(ids)],
        special=special_flags(tokenizer, ids),
        word_ids=_word_ids(batch, len(ids)),
        truncated_from=count if len(ids) < count else None,
        type_ids=list(batch["token_type_ids"]) if "token_type_ids" in batch else None,
        offsets=offsets,
        pair_start=start,
    )


def _sequence_ids(batch: Any, length: int) -> list[int | None]:
    """Which text of a pair each token belongs to (0, 1, or None for special tokens)."""
    try:
        return list(batch.sequence_ids())
    except (AttributeError, ValueError):
        types = batch.get("token_type_ids")
        return list(types) if types is not None else [0] * length


def encode_target(
    tokenizer: Any, text: str, max_length: int | None, truncate: bool, line: int | None = None
) -> Encoding:
    """The labels an encoder–decoder model is trained on for ``text`` (``text_target=``), with
    the tokenizer's special tokens; refuse a target that tokenizes to nothing but them."""
    try:
        check_text(text, max_length, line)
    except InputError as error:
        raise InputError(f"--target: {error.reason}", line) from None
    options: dict[str, Any] = {"truncation": True, "max_length": max_length} if truncate else {}
    if getattr(tokenizer, "is_fast", False):
        options["return_offsets_mapping"] = True
    batch = tokenizer(text_target=text, verbose=False, **options)
    ids = list(batch["input_ids"])
    special = special_flags(tokenizer, ids)
    tokens = [str(token) for token in tokenizer.convert_ids_to_tokens(ids)]
    if all(flag or not token.strip("▁Ġ ") for flag, token in zip(special, tokens, strict=True)):
        raise InputError("--target tokenizes to nothing but special tokens; give some text", line)
    if max_length is not None and len(ids) > max_length:
        raise InputError(
            f"--target has {len(ids)} tokens but the decoder takes at most {max_length}; "
            "shorten it or pass --truncate",
            line,
        )
    return Encoding(
        ids=ids,
        tokens=tokens,
        special=special,
        word_ids=_word_ids(batch, len(ids)),
        offsets=[tuple(span) for span in batch["offset_mapping"]]
        if "offset_mapping" in batch
        else None,
    )


def shifted(tokenizer: Any, labels: Encoding, decoder_ids: list[int]) -> Encoding:
    """The decoder's input for ``labels`` (``decoder_ids``: the start token, then every label but
    the last, as ``labels=`` feeds the decoder), with each label's word id and offsets carried."""
    keep = len(decoder_ids) - 1
    return Encoding(
        ids=decoder_ids,
        tokens=[str(token) for token in tokenizer.convert_ids_to_tokens(decoder_ids)],
        special=special_flags(tokenizer, decoder_ids),
        word_ids=[None, *labels.word_ids[:keep]],
        offsets=[(0, 0), *labels.offsets[:keep]] if labels.offsets is not None else None,
    )


def extended(tokenizer: Any, encoding: Encoding, ids: list[int], prompt_length: int) -> Encoding:
    """``encoding`` (the prompt's first ``prompt_length`` tokens) followed by generated ``ids``
    (the whole sequence): the new tokens have no word ids or offsets of their own, and the
    token type of the prompt's last token, as ``generate`` gives them."""
    new = len(ids) - prompt_length
    types = encoding.type_ids[:prompt_length] if encoding.type_ids is not None else None
    return Encoding(
        ids=ids,
        tokens=[str(token) for token in tokenizer.convert_ids_to_tokens(ids)],
        special=special_flags(tokenizer, ids),
        word_ids=[*encoding.word_ids[:prompt_length], *[None] * new],
        truncated_from=encoding.truncated_from,
        offsets=[*encoding.offsets[:prompt_length], *[(0, 0)] * new]
        if encoding.offsets is not None
        else None,
        type_ids=[*types, *(types[-1:] or [0]) * new] if types is not None else None,
        prompt_length=prompt_length,
    )
