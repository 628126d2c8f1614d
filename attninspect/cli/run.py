"""`attninspect run`: texts in, attention views out, in every format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.choices import ModelChoice, OutputChoice, TextsChoice, ViewChoice
from attninspect.cli.groups import grouped
from attninspect.cli.options import (
    SIZE_MAX,
    VIEW,
    MeasureName,
    RunFormat,
    RunFormatOption,
    usage_error,
)
from attninspect.cli.output import open_writer, write_one
from attninspect.cli.pictures import run_picture, write_picture
from attninspect.errors import AttnInspectError, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.analysis.digest import WholeLayers
    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.analysis.selection import HeadChoice, IndexSpec, View
    from attninspect.api import Inspector
    from attninspect.files.sources import TextSource
    from attninspect.files.writers import Writer


@dataclass(frozen=True)
class TableLayout:
    """How the table format lays out each text."""

    precision: int = 2
    window: int | None = None
    full: bool = False
    saved: bool = False  # --save draws the selected matrix whole too


@grouped
def run(
    *,
    texts: TextsChoice,
    view: ViewChoice,
    model: ModelChoice,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats", help="Per head: entropy, previous/same/next share.", rich_help_panel=VIEW
        ),
    ] = False,
    neurons: Annotated[
        bool,
        typer.Option(
            "--neurons",
            help="Neuron view of --focus in one --head.",
            rich_help_panel=VIEW,
        ),
    ] = False,
    output_format: RunFormatOption = RunFormat.table,
    out: OutputChoice,
) -> None:
    """Show which token attends to which, in a real model (default) or the scratch module."""
    if neurons:
        return run_neurons(texts, view, model, output_format, out, stats)
    check_combinations(texts, output_format, out.output, view.rollout, view.head)
    check_measure(view, stats)
    request = model.request(view.rollout)
    kind, dpi = out.picture()
    model, heads, spelling = old_head_count(model, out.heads)
    engine = model.settings(spelling)
    options = view.options(stats)
    keep = keep_of(output_format, out.all_layers or kind == "html", out.layers, heads)
    check_narrowing(output_format, out.all_layers, keep, view.rollout, stats)
    if view.measure is MeasureName.norms and view.head == "mean" and keep.heads is not None:
        raise usage_error(
            "with --measure norms the head mean is one matrix per layer (the norm of the sum "
            "over heads): --heads needs --head N or --head max",
            "'--heads'",
        )
    layout = TableLayout(out.precision, out.window, out.full, out.save is not None)
    source = texts.source()
    inspector = model.inspector(engine, request, out.no_color, texts.batch_size)
    inspector.check(options, keep)
    counts = run_texts(inspector, source, options, output_format.value, out.output, layout,
                       (keep, out.all_layers), texts.skip_errors, out.no_color)  # fmt: skip
    if out.save is not None and kind is not None and counts.first is not None:
        if counts.written > 1:
            feedback.warn(feedback.stderr_console(out.no_color), "--save draws the first text only")
        from attninspect.api.neuron_pages import page_neurons

        vectors = page_neurons(inspector, *counts.first) if kind == "html" else None
        page = page_norms(inspector, counts.first[0], keep) if kind == "html" else None
        picture = run_picture(kind, dpi, *counts.first, vectors, page)
        write_picture(out.save, picture, out.no_color)


def page_norms(inspector: Inspector, shown: Inspection, keep: WholeLayers) -> Inspection | None:
    """For a page of norms: every kept head's norms with the norm of the sum over every head
    (the page's head mean, `measures.for_heads`), from one more pass of the text (the run
    streamed one or the other: its view needs no more); None for another measure, or where the
    tokens of that pass are not the page's."""
    import dataclasses
    import warnings

    if shown.measure != "norms" or shown.kind != "self":
        return None
    with warnings.catch_warnings():  # a truncated text: the run itself said so
        warnings.simplefilter("ignore")
        found = inspector.run(shown.text, measure="norms")
    if found.tokens != shown.tokens or found.head_sum is None:
        return None
    rows = [found.layer_ids.index(layer) for layer in shown.layer_ids]
    heads = keep.head_ids(found.num_heads)
    return dataclasses.replace(
        found,
        attention=found.attention[rows][:, heads],  # (L', H', T, T)
        layers=[found.layer_ids[row] for row in rows],
        heads=[found.head_ids[head] for head in heads],
        model_layers=found.num_layers,
        model_heads=found.num_heads,
        head_sum=found.head_sum[rows],  # (L', T, T)
        index=shown.index,
        line=shown.line,
    )


def check_neurons(
    texts: TextsChoice, view: ViewChoice, output_format: RunFormat, out: OutputChoice
) -> None:
    """The usage errors of ``--neurons``, before any model loads."""
    if texts.text is None or texts.text == "-" or texts.file is not None:
        raise usage_error("--neurons reads one TEXT argument", "'--neurons'")
    if view.focus is None:
        raise usage_error("--neurons shows one query token: add --focus TOKEN", "'--neurons'")
    if not isinstance(view.head, int):
        raise usage_error(
            f"--neurons shows one head; the {view.head} over heads has no single query: give "
            "--head N",
            "'--head'",
        )
    if output_format not in (RunFormat.table, RunFormat.json, RunFormat.npz):
        raise usage_error("--neurons writes a table, --format json or --format npz", "'--format'")
    if output_format is RunFormat.npz and out.output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    steps = view.words or view.hide_special or view.rollout or view.measure.value != "weights"
    if steps:
        raise usage_error(
            "--neurons shows the model's own vectors: drop --words, --hide-special, --rollout "
            "and --measure",
            "'--neurons'",
        )


def check_neuron_outputs(view: ViewChoice, out: OutputChoice, stats: bool) -> None:
    """Refuse the options that shape a matrix, which the neuron view does not draw (a saved
    page opens the neuron view on a click: save it without --neurons)."""
    ignored = {"--save": out.save is not None, "--all-layers": out.all_layers,
               "--layers": out.layers is not None, "--heads": out.heads is not None,
               "--full": out.full, "--window": out.window is not None,
               "--top": view.top is not None, "--stats": stats}  # fmt: skip
    for name, given in ignored.items():
        if given:
            hint = " (a page saved without --neurons opens it on a click)" * (name == "--save")
            raise usage_error(f"--neurons shows one head's vectors: drop {name}{hint}", f"'{name}'")


def run_neurons(
    texts: TextsChoice,
    view: ViewChoice,
    model: ModelChoice,
    output_format: RunFormat,
    out: OutputChoice,
    stats: bool = False,
) -> None:
    """``run TEXT --focus TOKEN --neurons --layer L --head H``: the neuron view of one head, as
    a table, one JSON object or an npz (with the head's ``queries``, ``keys`` and ``values``)."""
    check_neurons(texts, view, output_format, out)
    check_neuron_outputs(view, out, stats)
    assert texts.text is not None and view.focus is not None and isinstance(view.head, int)
    inspector = model.inspector(model.settings("--num-heads"), model.request(), out.no_color, 1)
    found = inspector.neurons(texts.text, view.focus.raw, view.layer, view.head)
    from attninspect.analysis.neurons import neuron_arrays, neuron_record
    from attninspect.files.records import PlainRecord

    if output_format is RunFormat.npz:
        assert out.output is not None  # checked above
        write_arrays(out.output, {"text": texts.text, "model": inspector.model_name},
                     neuron_arrays(found))  # fmt: skip
        return None

    record = {"text": texts.text, "model": inspector.model_name, **neuron_record(found),
              "key_tokens": found.key_tokens}  # fmt: skip

    def make(console: Console) -> Writer:
        from attninspect.render.neurons import render_neurons
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda _result, shown: render_neurons(found, shown))

    write_one(PlainRecord(record), output_format.value, out.output, make, out.no_color)
    return None


def write_arrays(path: Path, names: dict[str, str], arrays: Mapping[str, object]) -> None:
    """An npz of ``arrays`` and the strings ``names`` at ``path``, written atomically."""
    import numpy as np

    from attninspect.files.atomic import atomic_file

    strings = {key: np.array(value, dtype=np.str_) for key, value in names.items()}
    with atomic_file(path, binary=True) as handle:
        np.savez_compressed(handle, **strings, **arrays)  # type: ignore[arg-type]


def check_measure(view: ViewChoice, stats: bool) -> None:
    """Refuse --measure with a step defined on weights alone (--rollout, --words, --stats,
    --hide-special), before any model loads or any server is asked."""
    from attninspect.analysis.measures import check_steps

    if view.measure is MeasureName.weights:
        return
    try:
        check_steps(view.measure.value, view.rollout, view.words, stats, view.hide_special)
    except AttnInspectError as error:
        raise usage_error(str(error), "'--measure'") from None


def old_head_count(
    choice: ModelChoice, heads: IndexSpec | None
) -> tuple[ModelChoice, IndexSpec | None, str]:
    """The old spelling ``--model scratch --heads N`` (N >= 1, no --num-heads): N is the head
    count, as before --num-heads existed; otherwise --heads is the heads to keep, as everywhere.
    Also returns how the head count was spelled, for the error that names it."""
    from dataclasses import replace

    from attninspect.model.engines.factory import SCRATCH

    if choice.model != SCRATCH or choice.num_heads is not None or not isinstance(heads, int):
        return choice, heads, "--num-heads"
    if heads < 1:  # not a count: a head index, as everywhere
        return choice, heads, "--num-heads"
    if heads > SIZE_MAX:
        raise usage_error(f"{heads}: the head count goes from 1 to {SIZE_MAX}", "'--heads'")
    return replace(choice, num_heads=heads), None, "--heads"


def keep_of(
    output_format: RunFormat, all_layers: bool, layers: IndexSpec | None, heads: IndexSpec | None
) -> WholeLayers:
    """What the output keeps whole: every layer for --all-layers and npz, narrowed by
    --layers / --heads; nothing whole otherwise (the view's reductions are kept as they stream)."""
    from attninspect.analysis.digest import WholeLayers

    whole = all_layers or output_format is RunFormat.npz
    if not whole and (layers is not None or heads is not None):
        raise usage_error(
            "--layers and --heads narrow every-layer outputs: add --all-layers, --format npz "
            "or --save FILE.html",
            "'--layers'" if layers is not None else "'--heads'",
        )
    return WholeLayers(wanted=whole, layers=layers, heads=heads)


def check_narrowing(
    output_format: RunFormat, all_layers: bool, keep: WholeLayers, rollout: bool, stats: bool
) -> None:
    """Refuse a --layers / --heads / --all-layers that the output would silently ignore."""
    if rollout and keep.heads is not None:
        raise usage_error(
            "--rollout averages the heads of each layer, so --heads cannot narrow it; drop "
            "--heads (or --rollout)",
            "'--heads'",
        )
    if stats and output_format is RunFormat.csv and (all_layers or keep.narrowed):
        raise usage_error(
            "--stats with --format csv writes one row per layer and head, not the weights; "
            "drop --all-layers, --layers and --heads, or use --format json",
            "'--stats'",
        )


def check_combinations(
    texts: TextsChoice,
    output_format: RunFormat,
    output: Path | None,
    rollout: bool,
    head: HeadChoice,
) -> None:
    """Every rule about which options go together, checked before any work (usage errors)."""
    if (texts.text is None) == (texts.file is None):
        raise usage_error(
            "give a TEXT (or - for standard input) or --file, not both"
            if texts.text
            else "give a TEXT to inspect (or - for standard input, or --file FILE)",
            "TEXT",
        )
    if output_format is RunFormat.npz and output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    check_view(rollout, head)


def check_view(rollout: bool, head: HeadChoice) -> None:
    if rollout and head != "mean":
        raise usage_error(
            "--rollout averages the heads of each layer; leave --head at mean", "'--head'"
        )


def run_texts(
    inspector: Inspector,
    source: TextSource,
    options: ViewOptions,
    output_format: str,
    output: Path | None,
    layout: TableLayout,
    kept: tuple[WholeLayers, bool],
    skip_errors: bool,
    no_color: bool,
) -> Counts:
    """Inspect every text of ``source`` and write each as it is done; raise on the first bad text
    unless ``skip_errors``. ``kept``: what is kept whole, and whether the output shows it."""
    from attninspect.files.sources import batches

    keep, all_layers = kept
    errors = feedback.stderr_console(no_color)
    on_terminal = output is None and feedback.stdout_is_terminal()
    table = run_table(layout)
    counts = Counts(output_format=output_format)
    with (
        open_writer(output_format, output, table, no_color) as writer,
        feedback.progress_bar(errors, source, on_terminal) as advance,
    ):
        # read ahead, batched by length
        read_ahead = getattr(inspector, "read_ahead_for", None)  # a remote server batches
        texts, characters = read_ahead(keep) if read_ahead else (inspector.batch_size, None)
        keep = in_sight(keep, writer, layout)
        for batch in batches(source, texts, characters):
            for result in inspector.view_batch(batch, options, keep):
                write_result(result, writer, options, all_layers, skip_errors, errors, counts)
                advance()
        counts.check(source.description)
    feedback.notes(errors, source, counts.skipped)
    return counts


def in_sight(keep: WholeLayers, writer: Writer, layout: TableLayout) -> WholeLayers:
    """``keep`` with the rows of the selected matrix that the table can show, where the table
    is the only output and shows a window: only those rows are computed whole."""
    import dataclasses

    sight = getattr(writer, "sight", None)  # the table's writer only
    if sight is None or keep.wanted or layout.saved:
        return keep
    return dataclasses.replace(keep, sight=sight())


LARGE_OUTPUT = 1024**3  # announced on stderr before it is written
FREE_READING_AGE = 1.0  # seconds a reading of the host's free memory is trusted ...
FREE_MARGIN = 4  # ... for a record that needs at most a quarter of it


@dataclass
class Counts:
    written: int = 0
    skipped: int = 0
    output_format: str = "table"
    output_bytes: int = 0
    announced: bool = False
    first: tuple[Inspection, View] | None = None  # the first text shown and its view, for --save
    free: int = 0  # host memory available at the last reading (see `host_free`)
    free_read_at: float = float("-inf")

    def host_free(self, needed: int) -> int:
        """Host memory available, read again unless a reading under FREE_READING_AGE seconds old
        leaves ``needed`` bytes a wide margin (reading it costs more than a short record)."""
        import time

        from attninspect.model.memory import host_available_bytes

        now = time.monotonic()
        fresh = now - self.free_read_at < FREE_READING_AGE
        if not fresh or needed * FREE_MARGIN > self.free:
            self.free, self.free_read_at = host_available_bytes(), now
        return self.free

    def grow(self, size: int, errors: Console) -> None:
        """Count one result's output; announce once when the whole passes LARGE_OUTPUT."""
        from attninspect.units import format_bytes

        self.output_bytes += size
        if self.output_bytes > LARGE_OUTPUT and not self.announced:
            self.announced = True
            feedback.warn(
                errors,
                f"the output is over {format_bytes(LARGE_OUTPUT)} (about "
                f"{format_bytes(self.output_bytes)} so far); --layers and --heads keep less",
            )

    def check(self, description: str) -> None:
        if not self.written:
            reason = "every text had an error" if self.skipped else "it had no text"
            raise AttnInspectError(f"nothing to inspect in {description}: {reason}")


def write_result(
    result: tuple[Inspection, View] | InputError,
    writer: Writer,
    options: ViewOptions,
    all_layers: bool,
    skip_errors: bool,
    errors: Console,
    counts: Counts,
) -> None:
    """One text to the writer; a bad text raises, or is reported and counted."""
    from attninspect.api.inspector import truncation_message
    from attninspect.files.records import RunResult, output_bytes

    try:
        if isinstance(result, InputError):
            raise result
        shown, view = result
        counts.grow(output_bytes(shown, view, counts.output_format, all_layers), errors)
        refuse_unwritable(shown, view, counts, all_layers, writer)
        writer.write(RunResult(shown, view, all_layers, options.stats))
        if counts.first is None:
            counts.first = (shown, view)
        counts.written += 1
        if shown.truncated_from is not None:
            feedback.warn(errors, truncation_message(shown, "--truncate"))
    except InputError as error:
        if not skip_errors:
            raise
        counts.skipped += 1
        feedback.warn(errors, f"skipped {error}")


def run_table(layout: TableLayout) -> Callable[[Console], Writer]:
    """The table writer's factory for `run`."""

    def make(console: Console) -> Writer:
        from attninspect.render.table import RunTableWriter

        return RunTableWriter(console, layout.precision, layout.window, layout.full)

    return make


def refuse_unwritable(
    shown: Inspection, view: View, counts: Counts, all_layers: bool, writer: Writer
) -> None:
    """Refuse, before its weights become JSON text, a text whose serialisation (with what the
    writer already holds) cannot fit in the memory available: one Error line, both numbers."""
    if counts.output_format not in ("json", "jsonl"):
        return
    from attninspect.model.estimate import serialised_bytes
    from attninspect.units import format_bytes

    values = view.matrix.size + (shown.attention.size if all_layers else 0)
    needed = serialised_bytes(values, getattr(writer, "held", 0))
    available = counts.host_free(needed)
    if needed > available:
        where = f"line {shown.line}" if shown.line is not None else f"text {counts.written}"
        raise AttnInspectError(
            f"writing {where} as {counts.output_format} needs about "
            f"{format_bytes(needed)} ({values:,} weights as text), but {format_bytes(available)} "
            "is available; keep fewer layers with --layers (or --heads), write fewer texts at "
            "once, or use --format npz"
        )
