"""The console script's entry point: as small as possible, so Ctrl-C during start-up is clean."""

from __future__ import annotations

import contextlib
import os
import sys

INTERRUPTED = 130


def main() -> None:
    """Import the CLI and run it; an interrupt at any point ends in one line and exit 130."""
    try:
        from attninspect.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        _exit_now(INTERRUPTED)
    except SystemExit as exit_request:
        if exit_request.code == INTERRUPTED:
            _exit_now(INTERRUPTED)
        raise


def _exit_now(code: int) -> None:
    """Flush and leave at once: after an interrupt that hit an import, CPython's own shutdown
    would otherwise re-raise SIGINT and end the process as killed (-2) instead of with 130."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
