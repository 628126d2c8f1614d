"""Errors that the command line turns into one `Error: ...` line, and the Python API raises."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


def keywords_checked(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` refusing a keyword it does not take with `BadValueError` (`no_keyword`),
    not Python's plain `TypeError`, for a public method below the API (`Inspection.view`)."""
    known = set(inspect.signature(method).parameters)

    @functools.wraps(method)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise BadValueError(no_keyword(method.__name__, unknown[0]))
        return method(*args, **kwargs)

    return checked
