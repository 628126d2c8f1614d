"""Where texts come from: the argument, standard input or a file, one text per line."""

from __future__ import annotations

import os
import queue
import stat
import sys
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
# A text is at most a few thousand tokens; a longer line is refused as soon as it passes this
# bound (even with --truncate), so no input (a 50 MB line, /dev/zero) can exhaust memory.
MAX_LINE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class LongLine:
    """A line that passed MAX_LINE_BYTES; the rest of it is skipped unread into memory."""


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


def from_standard_input() -> TextSource:
    """Texts from standard input; a closed standard input (``<&-``) is a clear error."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise AttnInspectError(
            "standard input is closed; pipe texts into `run -`, or use --file FILE"
        )
    return from_stream(stream, "standard input")


def from_stream(
    stream: BinaryIO, description: str, path: str | None = None, close: bool = False
) -> TextSource:
    """Texts from a binary stream, one per line; a pipe or terminal is read as lines arrive."""
    source = TextSource(items=[], description=description, path=path)
    source.live = not _is_regular_file(stream)
    # A pipe is read with os.read on its descriptor: the reader thread then holds no lock of the
    # buffered stream, so the process can always exit while it waits for input.
    read = _descriptor_reader(stream.fileno()) if source.live else stream.read
    source.items = _lines(_bounded_lines(read), source.blank_lines, stream if close else None)
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


def _descriptor_reader(descriptor: int):
    """``read(n)`` straight from a descriptor: returns what has arrived, never waits for more."""
    return lambda size: os.read(descriptor, size)


def _bounded_lines(read) -> Iterator[bytes | LongLine]:
    """Lines as they complete, in linear time; a line over MAX_LINE_BYTES becomes one LongLine."""
    parts: list[bytes] = []
    size = 0
    skipping = False
    while chunk := read(CHUNK_BYTES):
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if not skipping:
                yield b"".join([*parts, chunk[start : end + 1]])
            parts, size, skipping = [], 0, False
            start = end + 1
        if skipping or start == len(chunk):
            continue
        parts.append(chunk[start:])
        size += len(chunk) - start
        if size > MAX_LINE_BYTES:
            yield LongLine()
            parts, size, skipping = [], 0, True
    if parts:
        yield b"".join(parts)


def _lines(
    raw_lines: Iterator[bytes | LongLine], blank_lines: list[int], owned: BinaryIO | None
) -> Iterator[Item]:
    """Decode each line strictly as UTF-8; skip blank ones, noting their numbers."""
    index = 0
    try:
        for number, raw in enumerate(raw_lines, start=1):
            if isinstance(raw, LongLine):
                yield InputError(
                    f"the line is longer than {MAX_LINE_BYTES // (1 << 20)} MiB; "
                    "no model takes a text that long, so it is not read (split it)",
                    number,
                )
                continue
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


def batches(source: TextSource, size: int, characters: int | None = None) -> Iterator[list[Item]]:
    """Groups of at most ``size`` items, in order, each ending once its texts reach
    ``characters`` (when given).

    From a pipe, a batch holds only the lines that have already arrived, so the first record goes
    out before the whole input has been read.
    """
    if not source.live:
        yield from chunks(source.items, size, characters)
        return
    yield from _live_batches(source.items, size, characters)


def chunks(items: Iterable[Item], size: int, characters: int | None = None) -> Iterator[list[Item]]:
    """Consecutive groups of at most ``size`` items, in order (the last may be shorter); with
    ``characters``, a group also ends once its texts hold that many characters."""
    batch: list[Item] = []
    held = 0
    for item in items:
        batch.append(item)
        held += _characters(item)
        if len(batch) >= size or (characters is not None and held >= characters):
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _characters(item: Item) -> int:
    return len(item.text) if isinstance(item, SourceText) else 0


def _live_batches(
    items: Iterable[Item], size: int, characters: int | None = None
) -> Iterator[list[Item]]:
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
        held = _characters(first)
        while len(batch) < size and (characters is None or held < characters):
            try:
                following = _checked(arrived.get_nowait())
            except queue.Empty:
                break
            if following is _DONE:
                yield batch
                return
            batch.append(following)
            held += _characters(following)
        yield batch


def _checked(item: object):
    if isinstance(item, _ReadFailure):
        raise item.error
    return item
