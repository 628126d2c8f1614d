"""One writer per machine format; every command hands its results to ``write`` in order.

A result has ``record()`` (its JSON object), ``rows()`` and ``csv_columns`` (its CSV rows);
`run`'s results also carry the inspection that NPZ saves whole.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any, Protocol

import numpy as np

from attninspect.files.records import dump_json, npz_arrays


class Result(Protocol):
    """What a writer needs of one result."""

    @property
    def csv_columns(self) -> tuple[str, ...]: ...

    def record(self) -> dict[str, Any]: ...

    def rows(self) -> Iterable[tuple]: ...


class Writer(Protocol):
    def write(self, result: Any) -> None: ...

    def close(self) -> None: ...


class JsonWriter:
    """One object for one result; an array of objects for several."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.records: list[str] = []  # as JSON text: a list of Python floats is 8 times larger
        self.held = 0  # characters of JSON text held until `close`

    def write(self, result: Result) -> None:
        record = dump_json(result.record())
        self.records.append(record)
        self.held += len(record)

    def close(self) -> None:
        if not self.records:
            return
        many = len(self.records) > 1  # the array json.dumps would write, record by record
        payload = "[" + ", ".join(self.records) + "]" if many else self.records[0]
        self.stream.write(payload + "\n")
        self.stream.flush()


class JsonLinesWriter:
    """One object per line, written and flushed as each result is done."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, result: Result) -> None:
        self.stream.write(dump_json(result.record()) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class CsvWriter:
    """Tidy rows under one header (RFC 4180 quoting), flushed per result."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        self.header_written = False

    def write(self, result: Result) -> None:
        if not self.header_written:
            self.writer.writerow(result.csv_columns)
            self.header_written = True
        self.writer.writerows(result.rows())
        self.stream.flush()

    def close(self) -> None:
        pass


class NpzWriter:
    """The full attention arrays of `run`, saved together when the run ends (never pickled)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.inspections: list = []

    def write(self, result: Any) -> None:
        self.inspections.append(result.inspection)

    def close(self) -> None:
        if self.inspections:
            arrays: dict[str, Any] = npz_arrays(self.inspections)  # Any: not savez's allow_pickle
            np.savez_compressed(self.stream, **arrays)


def machine_writer(output_format: str, stream: IO) -> Writer:
    """The writer of a machine format."""
    match output_format:
        case "json":
            return JsonWriter(stream)
        case "jsonl":
            return JsonLinesWriter(stream)
        case "csv":
            return CsvWriter(stream)
        case "npz":
            return NpzWriter(stream)
    raise ValueError(f"not a machine format: {output_format}")
