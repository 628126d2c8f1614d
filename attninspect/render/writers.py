"""One writer per output format; `run` hands each finished text to ``write`` in input order."""

from __future__ import annotations

import csv
from typing import IO, Protocol

import numpy as np
from rich.console import Console
from rich.rule import Rule

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import RunView
from attninspect.files.records import (
    CSV_COLUMNS,
    STATS_COLUMNS,
    csv_rows,
    dump_json,
    npz_arrays,
    run_record,
    stats_rows,
)
from attninspect.render.matrix import render_run
from attninspect.safe_text import printable

FORMATS = ("table", "json", "jsonl", "csv", "npz")


class RecordWriter(Protocol):
    def write(self, inspection: Inspection, view: RunView) -> None: ...

    def close(self) -> None: ...


class TableWriter:
    """Rich tables for people; a rule with the text between several texts."""

    def __init__(self, console: Console, precision: int, window: int | None, full: bool) -> None:
        self.console = console
        self.precision = precision
        self.window = window
        self.full = full
        self.count = 0

    def write(self, inspection: Inspection, view: RunView) -> None:
        if self.count or inspection.line is not None:
            where = f"line {inspection.line}: " if inspection.line is not None else ""
            self.console.print(Rule(where + printable(inspection.text), align="left"))
        self.console.print(
            render_run(inspection, view, self.console, self.precision, self.window, self.full)
        )
        self.console.file.flush()
        self.count += 1

    def close(self) -> None:
        pass


class JsonWriter:
    """One object for one text; an array of objects for several."""

    def __init__(self, stream: IO[str], all_layers: bool) -> None:
        self.stream = stream
        self.all_layers = all_layers
        self.records: list[dict] = []

    def write(self, inspection: Inspection, view: RunView) -> None:
        self.records.append(run_record(inspection, view, self.all_layers))

    def close(self) -> None:
        if not self.records:
            return
        payload = self.records[0] if len(self.records) == 1 else self.records
        self.stream.write(dump_json(payload) + "\n")
        self.stream.flush()


class JsonLinesWriter:
    """One object per line, written and flushed as each text is done."""

    def __init__(self, stream: IO[str], all_layers: bool) -> None:
        self.stream = stream
        self.all_layers = all_layers

    def write(self, inspection: Inspection, view: RunView) -> None:
        self.stream.write(dump_json(run_record(inspection, view, self.all_layers)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class CsvWriter:
    """Tidy long rows (head statistics instead, with --stats); header once, flushed per text."""

    def __init__(self, stream: IO[str], all_layers: bool, stats: bool = False) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        self.all_layers = all_layers
        self.stats = stats
        self.writer.writerow(STATS_COLUMNS if stats else CSV_COLUMNS)

    def write(self, inspection: Inspection, view: RunView) -> None:
        if self.stats:
            self.writer.writerows(stats_rows(inspection, view))
        else:
            self.writer.writerows(csv_rows(inspection, view, self.all_layers))
        self.stream.flush()

    def close(self) -> None:
        pass


class NpzWriter:
    """The full attention arrays, saved together when the run ends (never pickled)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.inspections: list[Inspection] = []

    def write(self, inspection: Inspection, view: RunView) -> None:
        self.inspections.append(inspection)

    def close(self) -> None:
        if self.inspections:
            np.savez_compressed(self.stream, **npz_arrays(self.inspections))
