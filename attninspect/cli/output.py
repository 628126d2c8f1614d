"""Where a command's results go: stdout or an atomic ``--output`` file, through one writer."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attninspect.files.writers import Writer

TableFactory = Callable[[Any], "Writer"]


@contextlib.contextmanager
def destination(output: Path | None, binary: bool = False) -> Iterator[IO]:
    """stdout, or a temporary file renamed over ``output`` only when everything was written."""
    from attninspect.files.atomic import atomic_file

    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_file(output, binary=binary) as handle:
        yield handle


@contextlib.contextmanager
def open_writer(
    output_format: str, output: Path | None, table: TableFactory, no_color: bool
) -> Iterator[Writer]:
    """The writer of ``output_format`` on its destination; closed (and committed) on success."""
    from attninspect.files.atomic import check_output_path
    from attninspect.files.writers import machine_writer
    from attninspect.render.console import make_console

    if output is not None:
        check_output_path(output)
    with destination(output, binary=output_format == "npz") as stream:
        if output_format == "table":
            writer = table(make_console(stream, no_color=no_color))
        else:
            writer = machine_writer(output_format, stream)
        yield writer
        writer.close()


def write_one(
    result: object, output_format: str, output: Path | None, table: TableFactory, no_color: bool
) -> None:
    """Write a single result (`heads`, `diff`, `shapes`)."""
    with open_writer(output_format, output, table, no_color) as writer:
        writer.write(result)
