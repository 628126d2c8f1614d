"""Consoles for stdout (data) and stderr (everything else), with the colour rules in one place."""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console


def wants_color(stream: IO[str], no_color: bool = False) -> bool:
    """Colour only on a terminal (or with FORCE_COLOR), never with NO_COLOR or ``--no-color``."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PipeAwareConsole(Console):
    """A console that lets a broken pipe reach the command line's handler (exit 141), where rich
    would end the process with status 1 itself."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console(
    stream: IO[str] | None = None, no_color: bool = False, width: int | None = None
) -> Console:
    """A console on ``stream`` (stdout by default); no escape codes unless colour is on."""
    stream = stream if stream is not None else sys.stdout
    color = wants_color(stream, no_color)
    return PipeAwareConsole(
        file=stream,
        color_system="auto" if color else None,
        force_terminal=color or None,
        no_color=not color,
        width=width,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def error_console(no_color: bool = False) -> Console:
    """A console on stderr, for progress, notes and warnings."""
    return make_console(sys.stderr, no_color=no_color)
