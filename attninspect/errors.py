"""Errors that the command line turns into one `Error: ...` line."""

from __future__ import annotations


class AttnInspectError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""

    exit_code = 1


class InputError(AttnInspectError):
    """A problem with one input text, located by its line number where it has one."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (so temporary files go) and exit 128 + the signal."""

    def __init__(self, signal_number: int, name: str) -> None:
        self.signal_number = signal_number
        self.name = name
        super().__init__(name)
