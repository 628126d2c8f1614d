"""What goes to stderr while a command works: a spinner, a progress bar, warnings and notes."""

from __future__ import annotations

import contextlib
import gc
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from attninspect.safe_text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.sources import TextSource


def load_inspector(no_color: bool, truncate: bool = False, batch_size: int = 16, **engine: Any):
    """An `Inspector`, with a spinner on stderr while the model loads (only on a terminal)."""
    from attninspect.api import Inspector
    from attninspect.render.console import error_console

    errors = error_console(no_color)
    label = printable(str(engine.get("model") or "the default model"))
    spinner = (
        errors.status(f"loading {label} …") if errors.is_terminal else contextlib.nullcontext()
    )
    with spinner:
        inspector = Inspector(truncate=truncate, batch_size=batch_size, **engine)
    # What loading made (torch, transformers, the model: ~400,000 objects) lives until this
    # command exits: leave it out of every later collection (0.2 s each, every few hundred texts
    # of a file) and out of the one at exit. Not in the library: there it would outlive its use.
    gc.freeze()
    return inspector


@contextlib.contextmanager
def warnings_to(errors: Console) -> Iterator[None]:
    """The API's warnings (truncation) as yellow lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        warn(errors, str(warning.message))


def stderr_console(no_color: bool) -> Console:
    """The stderr console for warnings and notes (rich is imported only when a command runs)."""
    from attninspect.render.console import error_console

    return error_console(no_color)


def warn(errors: Console, message: str) -> None:
    errors.print(f"warning: {printable(message)}", style="yellow")


@contextlib.contextmanager
def progress_bar(
    errors: Console, source: TextSource, data_on_terminal: bool
) -> Iterator[Callable[..., None]]:
    """A bar on stderr for file input when stderr is a terminal and stdout is not shared with it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from attninspect.files.sources import count_lines

    if source.path is None or not errors.is_terminal or data_on_terminal:
        yield lambda done=1: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(ProgressColumn, Text),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("texts", total=count_lines(source.path))
        yield lambda done=1: progress.advance(task, done)


def _rate_column(base: type, text: type) -> Any:
    """A progress column with the texts done per second (rich's classes, imported lazily)."""

    class Rate(base):
        def render(self, task: Any) -> Any:
            return text(f"{task.speed:,.1f} texts/s" if task.speed else "", style="dim")

    return Rate()


def notes(errors: Console, source: TextSource, skipped_errors: int) -> None:
    """What was skipped on the way, on stderr."""
    if source.blank_lines:
        count = len(source.blank_lines)
        errors.print(f"note: skipped {count} blank line{'s' if count != 1 else ''}", style="dim")
    if skipped_errors:
        errors.print(
            f"note: skipped {skipped_errors} text{'s' if skipped_errors != 1 else ''} with errors",
            style="yellow",
        )


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
