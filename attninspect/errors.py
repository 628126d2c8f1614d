"""Errors that the command line turns into one `Error: ...` line, and the Python API raises in
its own words (`speaks_python`: ``truncate=True`` where the command line says ``--truncate``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar


class AttnInspectError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""

    exit_code = 1


class InputError(AttnInspectError):
    """A problem with one input text, located by its line number where it has one."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message  # without the line number
        super().__init__(f"line {line}: {message}" if line is not None else message)


class OutOfRangeError(AttnInspectError):
    """A layer or head that the loaded model does not have.

    ``what`` names the setting (``"layer"``, ``"head"``); the command line reports it as a usage
    error of the matching option.
    """

    def __init__(self, what: str, message: str) -> None:
        self.what = what
        super().__init__(message)


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (so temporary files go) and exit 128 + the signal."""

    def __init__(self, signal_number: int, name: str) -> None:
        self.signal_number = signal_number
        self.name = name
        super().__init__(name)


class BadValueError(AttnInspectError, ValueError):
    """A malformed value (a head, a token selector, a size): also a ValueError, so callers that
    parse user text can catch either."""


def no_keyword(call: str, name: str) -> str:
    """The Python API's words for a keyword that ``call`` does not take."""
    return f"{call}(): no keyword {name}=; see help() for the keywords it takes"


# The command line's option names in the Python API's words: an error a public method raises
# says ``truncate=True`` where the command line says ``--truncate`` (`speaks_python`).
P = ParamSpec("P")
R = TypeVar("R")
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
