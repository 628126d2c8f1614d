"""The Python API's arguments, checked at every public entry: a wrong type or value raises
`BadValueError` that says what to pass (numpy integers count as ints), and the messages the
command line words with option names (``--truncate``) speak Python (``truncate=True``)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from attninspect.errors import (
    AttnInspectError,
    BadValueError,
    InputError,
    OutOfRangeError,
    no_keyword,
)
from attninspect.files.sources import Item, SourceText
from attninspect.model.engines.factory import SCRATCH, EngineSettings
from attninspect.model.limits import out_of_range, whole_number

P = ParamSpec("P")
R = TypeVar("R")
SCRATCH_ONLY = ("tokenizer", "dim", "heads", "causal", "seed")
# Option names as the Python API spells them: flags become ``name=True``.
FLAGS = {"truncate", "chat", "words", "hide-special", "rollout", "stats", "download",
         "trust-remote-code", "verbose", "causal", "all-layers", "eager"}  # fmt: skip
RENAMED = {"from": "source", "to": "target", "num-heads": "heads", "batch-size": "batch_size"}
# An option, and the space before its value (not before a word of the sentence: "--model at").
SENTENCE_WORDS = (
    "at|to|or|and|for|with|only|is|are|needs|encodes|sets|applies|takes|must|would|can|cannot"
    "|has|was|keeps|gives|names|reads|writes"
)
OPTION = re.compile(rf"--([a-z][a-z-]*)\b( (?!(?:{SENTENCE_WORDS})\b)(?=\S))?")


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
    number = whole_number(value)
    if number is None:
        raise BadValueError(f"batch_size={value!r}: give a whole number (int) >= 1")
    problem = out_of_range("batch_size", number)
    if problem:
        raise BadValueError(f"batch_size={problem}")
    return number


def threads_of(value: object) -> int | None:
    """``threads=``: None (torch's choice) or a whole number from 1 to 1024."""
    if value is None:
        return None
    number = whole_number(value)
    if number is None:
        raise BadValueError(f"threads={value!r}: give a whole number (int) >= 1, or None")
    problem = out_of_range("threads", number)
    if problem:
        raise BadValueError(f"threads={problem}")
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


def pythonic(message: str) -> str:
    """``message`` with the command line's option names as the API's keywords."""

    def keyword(match: re.Match[str]) -> str:
        name = match[1]
        spelled = RENAMED.get(name, name.replace("-", "_"))
        if name in FLAGS:
            return f"{spelled}=True" + (match[2] or "")
        return f"{spelled}="

    return OPTION.sub(keyword, message)


def speaks_python(method: Callable[P, R]) -> Callable[P, R]:
    """A public method whose `AttnInspectError` messages (and unknown keywords) speak Python."""

    @functools.wraps(method)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
            raise BadValueError(_unexpected(method.__name__, error)) from None
        except AttnInspectError as error:
            reworded = _reworded(error)
            if reworded is error:
                raise
            raise reworded from error

    return checked


def _reworded(error: AttnInspectError) -> AttnInspectError:
    """The same error, its message in the API's words (``original``: the command line's)."""
    message = pythonic(str(error))
    if message == str(error):
        return error
    reworded = _copy(error, message)
    if reworded is not error:
        reworded.original = error  # type: ignore[attr-defined]
    return reworded


def _copy(error: AttnInspectError, message: str) -> AttnInspectError:
    if isinstance(error, OutOfRangeError):
        return OutOfRangeError(error.what, message)
    if isinstance(error, InputError):
        copy = InputError(message)
        copy.line = error.line
        return copy
    try:
        return type(error)(message)
    except TypeError:
        return error


def _unexpected(call: str, error: TypeError) -> str:
    found = re.search(r"keyword argument '(\w+)'", str(error))
    return no_keyword(call, found[1] if found else "?")


def _kind(value: object) -> str:
    return "None" if value is None else f"{value!r:.40} ({type(value).__name__})"
