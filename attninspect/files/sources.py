"""Where texts come from: the argument, standard input or a file, one text per line."""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from attninspect.errors import AttnInspectError, InputError


@dataclass(frozen=True)
class SourceText:
    """One input text and where it came from (``line`` is the input file's line number)."""

    text: str
    index: int
    line: int | None = None


Item = SourceText | InputError


@dataclass
class TextSource:
    """A stream of texts (or per-line errors) in input order, and what was skipped on the way."""

    items: Iterable[Item]
    description: str
    live: bool = False  # read from a pipe or terminal: batch only what has already arrived
    path: str | None = None  # a file, whose lines a progress bar can count
    blank_lines: list[int] = field(default_factory=list)


def from_argument(text: str) -> TextSource:
    """The single text given on the command line."""
    return TextSource(items=[SourceText(text=text, index=0)], description="the argument")


def from_stream(
    stream: BinaryIO, description: str, path: str | None = None, close: bool = False
) -> TextSource:
    """Texts from a binary stream, one per line; a pipe or terminal is read as lines arrive."""
    source = TextSource(items=[], description=description, path=path)
    source.live = not _is_regular_file(stream)
    # A pipe is read with os.read on its descriptor: the reader thread then holds no lock of the
    # buffered stream, so the process can always exit while it waits for input.
    raw_lines = _descriptor_lines(stream.fileno()) if source.live else iter(stream.readline, b"")
    source.items = _lines(raw_lines, source.blank_lines, stream if close else None)
    return source


def from_file(path: str) -> TextSource:
    """Texts from a file, one per line."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed when the generator finishes
    except IsADirectoryError as error:
        raise AttnInspectError(f"--file {path!r} is a directory, not a text file") from error
    except OSError as error:
        raise AttnInspectError(f"cannot read --file {path!r}: {error.strerror}") from error
    return from_stream(stream, f"--file {path}", path=path, close=True)


def count_lines(path: str) -> int:
    """Lines in a file (read once more, only for a progress bar's total)."""
    with open(path, "rb") as counter:
        return sum(1 for _ in counter)


def _is_regular_file(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return True  # an in-memory stream: everything is already there


def _descriptor_lines(descriptor: int) -> Iterator[bytes]:
    """Lines of a pipe or terminal, each as soon as it is complete."""
    pending = b""
    while chunk := os.read(descriptor, 1 << 16):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


def _lines(
    raw_lines: Iterator[bytes], blank_lines: list[int], owned: BinaryIO | None
) -> Iterator[Item]:
    """Decode each line strictly as UTF-8; skip blank ones, noting their numbers."""
    index = 0
    try:
        for number, raw in enumerate(raw_lines, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield InputError(f"not valid UTF-8 (byte {error.start + 1} of the line)", number)
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
            text = text.removesuffix("\n").removesuffix("\r")
            if not text.strip():
                blank_lines.append(number)
                continue
            yield SourceText(text=text, index=index, line=number)
            index += 1
    finally:
        if owned is not None:
            owned.close()


_DONE = object()


class _ReadFailure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def batches(source: TextSource, size: int) -> Iterator[list[Item]]:
    """Groups of at most ``size`` items, in order.

    From a pipe, a batch holds only the lines that have already arrived, so the first record goes
    out before the whole input has been read.
    """
    if not source.live:
        batch: list[Item] = []
        for item in source.items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    yield from _live_batches(source.items, size)


def _live_batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    arrived: queue.Queue[object] = queue.Queue(maxsize=max(4 * size, 64))

    def pump() -> None:
        try:
            for item in items:
                arrived.put(item)
        except BaseException as error:
            arrived.put(_ReadFailure(error))
        finally:
            arrived.put(_DONE)

    threading.Thread(target=pump, name="attninspect-reader", daemon=True).start()
    while True:
        first = _checked(arrived.get())
        if first is _DONE:
            return
        batch = [first]
        while len(batch) < size:
            try:
                following = _checked(arrived.get_nowait())
            except queue.Empty:
                break
            if following is _DONE:
                yield batch
                return
            batch.append(following)
        yield batch


def _checked(item: object):
    if isinstance(item, _ReadFailure):
        raise item.error
    return item
