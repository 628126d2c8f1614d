"""The console script's entry point: as small as possible, so Ctrl-C during start-up is clean."""

from __future__ import annotations

import sys


def main() -> None:
    """Import the CLI and run it; an interrupt before the CLI takes over still ends in one line."""
    try:
        from attninspect.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
