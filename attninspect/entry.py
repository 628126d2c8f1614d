"""The console script's entry point: as small as possible, so Ctrl-C during start-up is clean."""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import sys

from attninspect.errors import Terminated

INTERRUPTED = 130
SIGNAL_BASE = 128
ESCAPE_ERRORS = "attninspect-escape"


def main() -> None:
    """Import the CLI and run it; an interrupt at any point ends in one line and exit 130,
    SIGTERM / SIGHUP in one line and 143 / 129, after the same clean-up."""
    if sys.stdout is None or sys.stderr is None:
        _refuse_closed_streams()
    _stop_on_signals()
    _escape_what_cannot_be_encoded()
    try:
        from attninspect.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        _exit_now(INTERRUPTED)
    except Terminated as stop:
        sys.stderr.write(f"Error: terminated ({stop.name})\n")
        _exit_now(SIGNAL_BASE + stop.signal_number)
    except SystemExit as exit_request:
        if exit_request.code == INTERRUPTED:
            _exit_now(INTERRUPTED)
        raise


def _refuse_closed_streams() -> None:
    """Started with standard output (or error) closed (``>&-``): nothing could be shown."""
    if sys.stderr is not None:
        sys.stderr.write("Error: standard output is closed; redirect it to a file or /dev/null\n")
    os._exit(1)


def _stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into Terminated, unless the caller ignores them (nohup)."""

    def stop(number: int, _frame: object) -> None:
        raise Terminated(number, signal.Signals(number).name)

    for number in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, stop)


def _escape(error: UnicodeError) -> tuple[str, int]:
    """Characters the stream cannot encode become JSON-style escapes (\\uXXXX, surrogate pairs)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    escaped = "".join(
        f"\\u{ord(c):04x}"
        if ord(c) < 0x10000
        else "".join(f"\\u{unit:04x}" for unit in _surrogates(ord(c)))
        for c in text
    )
    return escaped, error.end


def _surrogates(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def _escape_what_cannot_be_encoded() -> None:
    """With a non-UTF-8 output encoding (PYTHONIOENCODING=ascii), escape instead of failing."""
    codecs.register_error(ESCAPE_ERRORS, _escape)
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if stream is not None and encoding != "utf8":
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.reconfigure(errors=ESCAPE_ERRORS)  # type: ignore[union-attr]


def _exit_now(code: int) -> None:
    """Flush and leave at once: after an interrupt that hit an import, CPython's own shutdown
    would otherwise re-raise SIGINT and end the process as killed (-2) instead of with 130."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
