"""`attninspect run`: texts in, attention views out, in every format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from attninspect.cli import feedback
from attninspect.cli.app import app
from attninspect.cli.options import (
    INPUT,
    MODEL,
    OUTPUT,
    SCRATCH_HELP,
    SEED_MAX,
    SEED_MIN,
    SIZE_MAX,
    VIEW,
    ChatOption,
    DeviceOption,
    DownloadOption,
    DpiOption,
    DType,
    DTypeOption,
    FocusOption,
    FullOption,
    HeadOption,
    HideSpecialOption,
    LayerOption,
    LayersOption,
    ModelOption,
    NoColorOption,
    OutputOption,
    PrecisionOption,
    RolloutOption,
    RunFormat,
    SaveOption,
    SystemOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    chat_options,
    engine_options,
    usage_error,
)
from attninspect.cli.output import open_writer
from attninspect.cli.pictures import check_save, run_picture, write_picture
from attninspect.errors import AttnInspectError, InputError


@dataclass(frozen=True)
class TableLayout:
    """How the table format lays out each text."""

    precision: int = 2
    window: int | None = None
    full: bool = False


@app.command()
def run(
    text: Annotated[
        str | None,
        typer.Argument(help="The text to inspect; - reads texts from standard input, one a line."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read texts from this file, one per line.", rich_help_panel=INPUT
        ),
    ] = None,
    truncate: TruncateOption = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=SIZE_MAX,
            help="Texts per forward pass.",
            rich_help_panel=INPUT,
        ),
    ] = 16,
    skip_errors: Annotated[
        bool,
        typer.Option(
            "--skip-errors",
            help="Report a bad text on stderr and go on with the rest.",
            rich_help_panel=INPUT,
        ),
    ] = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            help=SCRATCH_HELP + "tokenizer directory (default model's).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    dim: Annotated[
        int | None,
        typer.Option(
            "--dim",
            min=1,
            max=SIZE_MAX,
            help=SCRATCH_HELP + "embedding size [64].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    heads: Annotated[
        str | None,
        typer.Option(
            "--heads",
            help="Heads that every-layer outputs keep: an index or a slice such as 0:4 (default: "
            "all). " + SCRATCH_HELP + "the number of heads [1].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    causal: Annotated[
        bool,
        typer.Option(
            "--causal", help=SCRATCH_HELP + "mask keys after each query.", rich_help_panel=MODEL
        ),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            min=SEED_MIN,
            max=SEED_MAX,
            help=SCRATCH_HELP + "seed for the weights [0].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    verbose: VerboseOption = False,
    layer: LayerOption = -1,
    head: HeadOption = "mean",
    focus: FocusOption = None,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            "-k",
            min=1,
            max=SIZE_MAX,
            help="How many keys to list for --focus.",
            rich_help_panel=VIEW,
        ),
    ] = 5,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: RolloutOption = False,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats",
            help="Per head: row entropy and shares on previous/same/next/special.",
            rich_help_panel=VIEW,
        ),
    ] = False,
    output_format: Annotated[
        RunFormat,
        SystemOption,
        typer.Option("--format", help="table, json, jsonl, csv or npz.", rich_help_panel=OUTPUT),
    ] = RunFormat.table,
    output: OutputOption = None,
    layers: LayersOption = None,
    all_layers: Annotated[
        bool,
        typer.Option(
            "--all-layers",
            help="json/jsonl/csv: every layer and head, not just the selected view.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    precision: PrecisionOption = 2,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            min=1,
            help="Show at most N tokens per axis (default: what fits).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    full: FullOption = False,
    save: SaveOption = None,
    dpi: DpiOption = 150,
    no_color: NoColorOption = False,
) -> None:
    """Show which token attends to which, in a real model (default) or the scratch module."""
    from attninspect.analysis.pipeline import ViewOptions

    check_combinations(text, file, output_format, output, rollout, head)
    kind = check_save(save, output)
    scratch, kept_heads = scratch_options(model, tokenizer, dim, heads, causal, seed)
    options = ViewOptions(layer, head, words, hide_special, rollout, focus, top, stats)
    engine = engine_options(model, device, dtype, trust_remote_code, verbose, download) | scratch
    engine |= chat_options(chat, system)
    keep = keep_of(output_format, all_layers or kind == "html", layers, kept_heads)
    layout = TableLayout(precision, window, full)
    source = open_source(text, file)
    inspector = feedback.load_inspector(no_color, truncate, batch_size, **engine)
    inspector.check(options, keep)
    counts = run_texts(inspector, source, options, output_format.value, output, layout,
                       (keep, all_layers), skip_errors, no_color)  # fmt: skip
    if save is not None and kind is not None and counts.first is not None:
        if counts.written > 1:
            feedback.warn(feedback.errors(no_color), "--save draws the first text only")
        write_picture(save, run_picture(kind, dpi, *counts.first), no_color)


def keep_of(output_format: RunFormat, all_layers: bool, layers: Any, heads: Any):
    """What the output keeps whole: every layer for --all-layers and npz, narrowed by
    --layers / --heads; nothing whole otherwise (the view's reductions are kept as they stream)."""
    from attninspect.analysis.digest import Keep

    whole = all_layers or output_format is RunFormat.npz
    if not whole and (layers is not None or heads is not None):
        raise usage_error(
            "--layers and --heads narrow every-layer outputs: add --all-layers, --format npz "
            "or --save FILE.html",
            "'--layers'" if layers is not None else "'--heads'",
        )
    return Keep(whole=whole, layers=layers, heads=heads)


def check_combinations(
    text: str | None,
    file: Path | None,
    output_format: RunFormat,
    output: Path | None,
    rollout: bool,
    head: Any,
) -> None:
    """Every rule about which options go together, checked before any work (usage errors)."""
    if (text is None) == (file is None):
        raise usage_error(
            "give a TEXT (or - for standard input) or --file, not both"
            if text
            else "give a TEXT to inspect (or - for standard input, or --file FILE)",
            "TEXT",
        )
    if output_format is RunFormat.npz and output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    check_view(rollout, head)


def check_view(rollout: bool, head: Any) -> None:
    if rollout and head != "mean":
        raise usage_error(
            "--rollout averages the heads of each layer; leave --head at mean", "'--head'"
        )


def scratch_options(
    model: str | None,
    tokenizer: str | None,
    dim: int | None,
    heads: str | None,
    causal: bool,
    seed: int | None,
) -> tuple[dict[str, Any], Any]:
    """The scratch engine's sizes (only with --model scratch; unset ones keep their defaults), and
    the heads to keep (--heads: a count for scratch, an index or slice for real models)."""
    from attninspect.model.engines.factory import SCRATCH

    given = {"--dim": dim, "--seed": seed, "--causal": causal or None}
    if model != SCRATCH:
        named = [name for name, value in given.items() if value is not None]
        if named:
            verb = "applies" if len(named) == 1 else "apply"
            raise usage_error(f"{verb} to --model scratch only", ", ".join(named))
        return {"tokenizer": tokenizer}, _kept_heads(heads)
    return _scratch_sizes(tokenizer, dim, _head_count(heads), causal, seed), None


def _kept_heads(heads: str | None) -> Any:
    from attninspect.analysis.ranges import parse_range

    try:
        return None if heads is None else parse_range(heads)
    except ValueError as error:
        raise usage_error(str(error), "'--heads'") from None


def _head_count(heads: str | None) -> int | None:
    if heads is None:
        return None
    if not heads.strip().isdigit() or not 1 <= int(heads) <= SIZE_MAX:
        raise usage_error(
            f"{heads!r}: with --model scratch, --heads is a count from 1 to {SIZE_MAX}", "'--heads'"
        )
    return int(heads)


def _scratch_sizes(
    tokenizer: str | None, dim: int | None, heads: int | None, causal: bool, seed: int | None
) -> dict[str, Any]:
    from attninspect.model.engines.factory import EngineSettings

    dim, heads = dim or EngineSettings.dim, heads or EngineSettings.heads
    if dim % heads:
        raise usage_error(f"--heads {heads} must divide --dim {dim}", "'--heads'")
    seed = EngineSettings.seed if seed is None else seed
    return {"tokenizer": tokenizer, "dim": dim, "heads": heads, "causal": causal, "seed": seed}


def open_source(text: str | None, file: Path | None):
    """The texts: a file, standard input (``-``) or the argument."""
    from attninspect.files.sources import from_argument, from_file, from_standard_input

    if file is not None:
        return from_file(str(file))
    if text == "-":
        return from_standard_input()
    return from_argument(text or "")


def run_texts(
    inspector: Any,
    source: Any,
    options: Any,
    output_format: str,
    output: Path | None,
    layout: TableLayout,
    kept: tuple[Any, bool],
    skip_errors: bool,
    no_color: bool,
) -> Counts:
    """Inspect every text of ``source`` and write each as it is done; raise on the first bad text
    unless ``skip_errors``. ``kept``: what is kept whole, and whether the output shows it."""
    from attninspect.files.sources import batches

    keep, all_layers = kept
    errors = feedback.errors(no_color)
    on_terminal = output is None and feedback.stdout_is_terminal()
    table = run_table(layout)
    counts = Counts(output_format=output_format)
    with (
        open_writer(output_format, output, table, no_color) as writer,
        feedback.progress_bar(errors, source, on_terminal) as advance,
    ):
        for batch in batches(source, inspector.read_ahead):
            for result in inspector.view_batch(batch, options, keep):
                write_result(result, writer, options, all_layers, skip_errors, errors, counts)
                advance()
        counts.check(source.description)
    feedback.notes(errors, source, counts.skipped)
    return counts


LARGE_OUTPUT = 1024**3  # announced on stderr before it is written


@dataclass
class Counts:
    written: int = 0
    skipped: int = 0
    output_format: str = "table"
    output_bytes: int = 0
    announced: bool = False
    first: tuple[Any, Any] | None = None  # the first text shown and its view, for --save

    def grow(self, size: int, errors) -> None:
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


def write_result(result, writer, options, all_layers, skip_errors, errors, counts: Counts) -> None:
    """One text to the writer; a bad text raises, or is reported and counted."""
    from attninspect.api.inspector import truncation_message
    from attninspect.files.records import RunResult, output_bytes

    try:
        if isinstance(result, InputError):
            raise result
        shown, view = result
        counts.grow(output_bytes(shown, view, counts.output_format, all_layers), errors)
        writer.write(RunResult(shown, view, all_layers, options.stats))
        if counts.first is None:
            counts.first = (shown, view)
        counts.written += 1
        if shown.truncated_from is not None:
            feedback.warn(errors, truncation_message(shown))
    except InputError as error:
        if not skip_errors:
            raise
        counts.skipped += 1
        feedback.warn(errors, f"skipped {error}")


def run_table(layout: TableLayout):
    """The table writer's factory for `run`."""

    def make(console):
        from attninspect.render.table import RunTableWriter

        return RunTableWriter(console, layout.precision, layout.window, layout.full)

    return make
