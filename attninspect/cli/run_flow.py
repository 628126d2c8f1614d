"""`attninspect run`: texts in, engine, views, writers out; errors per line; files atomic."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import (
    HeadChoice,
    RunView,
    build_view,
    resolve_head,
    resolve_layer,
)
from attninspect.analysis.selectors import TokenSelector, resolve_selector
from attninspect.analysis.transforms import (
    HeadStats,
    head_stats,
    hide_special,
    merge_words,
    sink_share,
    with_rollout,
)
from attninspect.api.batching import SourceText, inspect_batch
from attninspect.errors import AttnInspectError, InputError
from attninspect.files.atomic import atomic_file, check_output_path
from attninspect.files.sources import TextSource, batches, count_lines
from attninspect.model.engines.factory import EngineSettings, open_engine
from attninspect.render.console import error_console, make_console
from attninspect.render.writers import (
    CsvWriter,
    JsonLinesWriter,
    JsonWriter,
    NpzWriter,
    RecordWriter,
    TableWriter,
)
from attninspect.safe_text import printable


@dataclass(frozen=True)
class RunSettings:
    """Everything `run` needs besides the texts."""

    engine: EngineSettings
    layer: int = -1
    head: HeadChoice = "mean"
    focus: TokenSelector | None = None
    top: int = 5
    output_format: str = "table"
    output: Path | None = None
    all_layers: bool = False
    precision: int = 2
    window: int | None = None
    full: bool = False
    truncate: bool = False
    batch_size: int = 16
    skip_errors: bool = False
    no_color: bool = False
    words: bool = False
    hide_special: bool = False
    rollout: bool = False
    stats: bool = False


def run(settings: RunSettings, source: TextSource) -> None:
    """Inspect every text of ``source`` and write the results; raise on the first bad text."""
    if settings.output is not None:
        check_output_path(settings.output)
    errors = error_console(settings.no_color)
    with loading_status(errors, settings.engine.model):
        engine = open_engine(settings.engine)
    layer = resolve_layer(settings.layer, engine.num_layers)
    head = resolve_head(settings.head, engine.num_heads)
    skipped_errors = 0
    written = 0
    with destination(settings) as stream, progress_bar(errors, source, settings) as advance:
        writer = make_writer(settings, stream)
        for batch in batches(source, settings.batch_size):
            texts = [item for item in batch if not isinstance(item, InputError)]
            results = iter(inspect_batch(engine, texts, settings.truncate))
            for item in batch:
                result = item if isinstance(item, InputError) else next(results)
                try:
                    if isinstance(result, InputError):
                        raise result
                    shown, view = view_of(result, settings, layer, head)
                    writer.write(shown, view)
                    written += 1
                    if result.truncated_from is not None:
                        warn_truncated(errors, result)
                except InputError as error:
                    if not settings.skip_errors:
                        raise
                    skipped_errors += 1
                    errors.print(f"warning: skipped {printable(str(error))}", style="yellow")
                advance()
        if not written:
            reason = "every text had an error" if skipped_errors else "it had no text"
            raise AttnInspectError(f"nothing to inspect in {source.description}: {reason}")
        writer.close()
    notes(errors, source, skipped_errors)


@dataclass(frozen=True)
class Analysed:
    """One inspection after the analysis views, and what was measured on the way."""

    inspection: Inspection
    head: HeadChoice
    sink_share: list[float]
    stats: list[HeadStats] | None


def analyse(inspection: Inspection, settings: RunSettings, head: HeadChoice) -> Analysed:
    """Apply the analysis views in order: rollout over tokens (the flow the method models), then
    words; the sink share is measured there, before special tokens are hidden, so it says what
    hiding removed."""
    if settings.rollout:
        inspection = with_rollout(inspection)
        head = "mean"
    if settings.words:
        inspection = merge_words(inspection)
    sinks = sink_share(inspection, head)
    stats = head_stats(inspection, list(range(inspection.num_layers))) if settings.stats else None
    if settings.hide_special:
        inspection = hide_special(inspection)
    return Analysed(inspection, head, sinks, stats)


def focus_index(settings: RunSettings, inspection: Inspection) -> int | None:
    """Where ``--focus`` points in this (analysed) text, or None without one."""
    if settings.focus is None:
        return None
    try:
        return resolve_selector(settings.focus, inspection.tokens)
    except InputError as error:
        raise InputError(str(error), inspection.line) from error


def make_view(analysed: Analysed, settings: RunSettings, layer: int, focus: int | None) -> RunView:
    """What the writers show of an analysed inspection."""
    return build_view(
        analysed.inspection.attention,
        layer,
        analysed.head,
        focus,
        settings.top,
        kind="rollout" if settings.rollout else "attention",
        words=settings.words,
        hidden_special=settings.hide_special,
        sink_share=analysed.sink_share,
        stats=analysed.stats,
    )


def view_of(
    inspection: Inspection, settings: RunSettings, layer: int, head: HeadChoice
) -> tuple[Inspection, RunView]:
    """Analyse one text, resolve the focus token in it, and build what the writers show."""
    analysed = analyse(inspection, settings, head)
    focus = focus_index(settings, analysed.inspection)
    return analysed.inspection, make_view(analysed, settings, layer, focus)


@contextlib.contextmanager
def loading_status(errors: Console, model: str | None) -> Iterator[None]:
    """A spinner on stderr while the model loads, only where stderr is a terminal."""
    if not errors.is_terminal:
        yield
        return
    with errors.status(f"loading {printable(model or 'the default model')} …"):
        yield


@contextlib.contextmanager
def destination(settings: RunSettings) -> Iterator[IO]:
    """stdout, or an atomic file for ``--output``."""
    if settings.output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_file(settings.output, binary=settings.output_format == "npz") as handle:
        yield handle


def make_writer(settings: RunSettings, stream: IO) -> RecordWriter:
    match settings.output_format:
        case "json":
            return JsonWriter(stream, settings.all_layers)
        case "jsonl":
            return JsonLinesWriter(stream, settings.all_layers)
        case "csv":
            return CsvWriter(stream, settings.all_layers, stats=settings.stats)
        case "npz":
            return NpzWriter(stream)
        case _:
            console = make_console(stream, no_color=settings.no_color)
            return TableWriter(console, settings.precision, settings.window, settings.full)


@contextlib.contextmanager
def progress_bar(errors: Console, source: TextSource, settings: RunSettings) -> Iterator:
    """A bar on stderr for file input when stderr is a terminal and stdout is not shared with it."""
    data_on_terminal = settings.output is None and sys.stdout.isatty()
    if source.path is None or not errors.is_terminal or data_on_terminal:
        yield lambda: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("texts", total=count_lines(source.path))
        yield lambda: progress.advance(task)


def warn_truncated(errors: Console, inspection: Inspection) -> None:
    where = f"line {inspection.line}: " if inspection.line is not None else ""
    errors.print(
        f"warning: {where}text truncated from {inspection.truncated_from} to "
        f"{inspection.length} tokens (--truncate)",
        style="yellow",
    )


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


def inspect_texts(
    engine_settings: EngineSettings, texts: dict[str, str], truncate: bool, no_color: bool
) -> list[Inspection]:
    """Run a few named texts in one batch; a bad one is an error that names it."""
    errors = error_console(no_color)
    with loading_status(errors, engine_settings.model):
        engine = open_engine(engine_settings)
    items = [SourceText(text=text, index=index) for index, text in enumerate(texts.values())]
    results = inspect_batch(engine, items, truncate)
    for name, result in zip(texts, results, strict=True):
        if isinstance(result, InputError):
            raise AttnInspectError(f"{name}: {result}")
        if result.truncated_from is not None:
            warn_truncated(errors, result)
    return results  # type: ignore[return-value]
