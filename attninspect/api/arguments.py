"""The Python API's arguments, checked at every public entry: a wrong type or value raises
`BadValueError` that says what to pass (numpy integers count as ints), and the messages the
command line words with option names (``--truncate``) speak Python (``truncate=True``:
`attninspect.errors`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from attninspect.errors import BadValueError, InputError, pythonic, speaks_python
from attninspect.files.sources import Item, SourceText
from attninspect.model.engines.factory import SCRATCH, EngineSettings
from attninspect.model.limits import out_of_range, whole_number

__all__ = ["pythonic", "speaks_python"]  # the API's wording, kept where the API found it
SCRATCH_ONLY = ("tokenizer", "dim", "heads", "causal", "seed")


def engine_settings(model: object, keywords: dict[str, Any]) -> EngineSettings:
    """The `EngineSettings` of ``Inspector(model, **keywords)``; the scratch module's keywords
    (None: not given) on another model are refused."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if model is not None and not isinstance(model, str):
        raise BadValueError(
            f"model={model!r}: give a model directory, a hub id or 'scratch' (a str), or None"
        )
    for name in ("device", "dtype"):
        if not isinstance(keywords[name], str):
            raise BadValueError(f"{name}={keywords[name]!r}: give a str")
    given = {name: keywords[name] for name in SCRATCH_ONLY if keywords[name] not in (None, False)}
    if model != SCRATCH and given:
        names = ", ".join(f"{name}=" for name in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise BadValueError(f"{names} {verb} to Inspector('scratch') only")
    settings = {name: value for name, value in keywords.items() if value is not None}
    return EngineSettings(model=model, **settings)


def batch_size_of(value: object) -> int:
    """``batch_size=``: a whole number >= 1."""
    return _count_of("batch_size", value, "give a whole number (int) >= 1")


def threads_of(value: object) -> int | None:
    """``threads=``: None (torch's choice) or a whole number from 1 to 1024."""
    if value is None:
        return None
    return _count_of("threads", value, "give a whole number (int) >= 1, or None")


def _count_of(name: str, value: object, wanted: str) -> int:
    """A whole number within `model.limits`' range for ``name``, else BadValueError."""
    number = whole_number(value)
    if number is None:
        raise BadValueError(f"{name}={value!r}: {wanted}")
    problem = out_of_range(name, number)
    if problem:
        raise BadValueError(f"{name}={problem}")
    return number


def texts_of(texts: object, call: str = "run") -> tuple[bool, list[str]]:
    """``run``'s argument: (one text?, the texts). A str, or a list (any iterable but a mapping,
    a set or bytes) of str."""
    if isinstance(texts, str):
        return True, [texts]
    unordered = isinstance(texts, Mapping | set | frozenset | bytes | bytearray)
    if unordered or not isinstance(texts, Iterable):
        raise BadValueError(f"{call}() takes a text (str) or a list of texts, not {_kind(texts)}")
    batch = list(texts)
    for index, text in enumerate(batch):
        if not isinstance(text, str):
            raise BadValueError(f"{call}(): text {index} is {_kind(text)}, not a str")
    return False, batch


def corpus_of(texts: object, call: str = "stats") -> Iterator[str]:
    """``stats``' texts, checked as they are read (a corpus may be a file's lines): a str is one
    text, else an iterable of str (not a mapping, a set or bytes)."""
    if isinstance(texts, str):
        texts = [texts]
    unordered = isinstance(texts, Mapping | set | frozenset | bytes | bytearray)
    if unordered or not isinstance(texts, Iterable):
        raise BadValueError(
            f"{call}() takes a text (str) or an iterable of texts, not {_kind(texts)}"
        )
    return _checked_texts(texts, call)


def _checked_texts(texts: Iterable[object], call: str) -> Iterator[str]:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadValueError(f"{call}(): text {index} is {_kind(text)}, not a str")
        yield text


def items_of(items: Iterable[object]) -> Iterator[Item]:
    """``stream``'s texts: `SourceText` items, read errors, or plain str (numbered in order)."""
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise BadValueError(f"stream() takes an iterable of texts (str), not {_kind(items)}")
    for index, item in enumerate(items):
        if isinstance(item, str):
            yield SourceText(text=item, index=index)
        elif isinstance(item, SourceText | InputError):
            yield item
        else:
            raise BadValueError(f"stream(): item {index} is {_kind(item)}, not a str")


def _kind(value: object) -> str:
    return "None" if value is None else f"{value!r:.40} ({type(value).__name__})"
