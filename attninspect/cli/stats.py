"""`attninspect stats`: per layer x head statistics over every row of every text of a corpus."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attninspect.cli import feedback
from attninspect.cli.options import (
    INPUT,
    OUTPUT,
    SIZE_MAX,
    AttentionOption,
    CausalOption,
    ChatOption,
    Convention,
    ConventionOption,
    DeviceOption,
    DimOption,
    DownloadOption,
    DpiOption,
    DType,
    DTypeOption,
    GenerateOption,
    HeadsOption,
    HideSpecialOption,
    LayersOption,
    ModelChoice,
    ModelOption,
    NoColorOption,
    NumHeadsOption,
    OutputOption,
    PrecisionOption,
    SaveOption,
    SeedOption,
    SystemOption,
    TokenizerOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    chat_options,
    default,
    usage_error,
    within,
)
from attninspect.cli.pictures import dpi_of
from attninspect.errors import AttnInspectError

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.analysis.corpus import CorpusStats
    from attninspect.api.corpus import StatsPlan, WindowStats
    from attninspect.cli.output import TableFactory
    from attninspect.files.sources import TextSource
    from attninspect.files.writers import Writer

ENGINE = "Engine"  # where it runs: listed first (a panel outside options.PANELS)


class Statistic(str, Enum):
    entropy = "entropy"
    previous = "previous"
    same = "same"
    next = "next"
    special = "special"
    duplicate = "duplicate"
    induction = "induction"


class StatsFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    npz = "npz"


def _gpus(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 64:
        raise typer.BadParameter(f"{value} is not from 0 to 64")
    return value


class StatsEngine(str, Enum):
    local = "local"
    ray = "ray"


def stats(
    text: Annotated[
        str | None,
        typer.Argument(help="The text; - reads texts from stdin, one a line.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="Read texts from FILE, one a line.",
            rich_help_panel=INPUT,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            callback=within(1, SIZE_MAX),
            help="Texts per forward pass, at most.",
            rich_help_panel=INPUT,
        ),
    ] = 16,
    skip_errors: Annotated[
        bool,
        typer.Option("--skip-errors", help="Report a bad text and go on.", rich_help_panel=INPUT),
    ] = False,
    truncate: TruncateOption = False,
    generate: GenerateOption = None,
    attention: AttentionOption = None,
    chat: ChatOption = False,
    system: SystemOption = None,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    verbose: VerboseOption = False,
    tokenizer: TokenizerOption = None,
    dim: DimOption = None,
    num_heads: NumHeadsOption = None,
    causal: CausalOption = False,
    seed: SeedOption = None,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    statistic: Annotated[
        Statistic,
        typer.Option(
            "--stat", metavar="NAME", help="The statistic the table shows.", rich_help_panel=OUTPUT
        ),
    ] = Statistic.previous,
    output_format: Annotated[
        StatsFormat,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="table (one statistic); json, csv or npz (all).",
            rich_help_panel=OUTPUT,
        ),
    ] = StatsFormat.table,
    convention: ConventionOption = Convention.attninspect,
    output: OutputOption = None,
    layers: LayersOption = None,
    heads: HeadsOption = None,
    precision: PrecisionOption = 2,
    save: SaveOption = None,
    dpi: DpiOption = None,
    no_color: NoColorOption = False,
    engine: Annotated[
        StatsEngine,
        typer.Option(
            "--engine",
            metavar="NAME",
            help="local, or ray (the ray extra: Ray Data actors).",
            rich_help_panel=ENGINE,
        ),
    ] = StatsEngine.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDRESS",
            help="ray: a running cluster. " + default("RAY_ADDRESS, else a local one"),
            rich_help_panel=ENGINE,
        ),
    ] = None,
    actors: Annotated[
        int,
        typer.Option(
            "--actors",
            metavar="N",
            callback=within(1, 4096),
            help="ray: model copies (actors).",
            rich_help_panel=ENGINE,
        ),
    ] = 1,
    num_gpus: Annotated[
        float | None,
        typer.Option(
            "--num-gpus",
            metavar="N",
            callback=_gpus,
            help="ray: GPUs per actor. " + default("1 if the cluster has GPUs"),
            rich_help_panel=ENGINE,
        ),
    ] = None,
) -> None:
    """Per layer x head over every row of every text: entropy (bits), previous/same/next/special
    shares, and the weight on earlier copies of a row's token (duplicate) and on the tokens after
    them (induction), each a mean over the rows where it is defined, with row counts.
    --convention clark or transformerlens averages as those papers' code does instead."""
    from attninspect.api.corpus import StatsPlan

    check_stats_options(text, file, output_format, output, engine, (ray_address, num_gpus, actors))
    kind = check_save_of(save, output)
    dpi = dpi_of(dpi, save)
    choice = ModelChoice(model, device, dtype, trust_remote_code, download, verbose, tokenizer,
                         dim, num_heads, causal, seed)  # fmt: skip
    settings = choice.engine() | chat_options(chat, system)
    measured = attention.value if attention is not None else None  # the attention kind
    plan = StatsPlan(words, hide_special, layers, heads, batch_size, truncate, convention.value,
                     measured, generate)  # type: ignore[arg-type]  # fmt: skip
    source = open_stats_source(text, file)
    if engine is StatsEngine.ray:
        ray = RayChoice(ray_address, actors, num_gpus)
        corpus = ray_corpus(settings, source, plan, ray, skip_errors, no_color)
    else:
        corpus = local_corpus(settings, source, plan, skip_errors, no_color)
    write_stats(corpus, output_format.value, output, statistic.value, precision, no_color)
    if save is not None and kind is not None:
        from attninspect.cli.pictures import write_picture
        from attninspect.render.corpus_stats import stats_picture

        write_picture(save, stats_picture(kind, dpi, corpus), no_color)


def check_stats_options(
    text: str | None,
    file: Path | None,
    output_format: StatsFormat,
    output: Path | None,
    engine: StatsEngine,
    ray: tuple[str | None, float | None, int],
) -> None:
    """Which options go together, checked before any work (usage errors)."""
    if (text is None) == (file is None):
        message = "give a TEXT (or - for standard input) or --file, not both"
        raise usage_error(message if text else "give a TEXT, - or --file FILE", "TEXT")
    if output_format is StatsFormat.npz and output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    address, gpus, actors = ray
    if engine is StatsEngine.local:
        given = [
            name
            for name, value in (("--ray-address", address), ("--num-gpus", gpus))
            if value is not None
        ] + (["--actors"] if actors != 1 else [])
        if given:
            raise usage_error("applies to --engine ray only", ", ".join(given))


def check_save_of(save: Path | None, output: Path | None) -> str | None:
    from attninspect.cli.pictures import check_save

    return check_save(save, output)


def open_stats_source(text: str | None, file: Path | None) -> TextSource:
    from attninspect.cli.run import open_source

    return open_source(text, file)


class RayChoice:
    """Where and how wide `--engine ray` runs."""

    def __init__(self, address: str | None, actors: int, num_gpus: float | None) -> None:
        self.address, self.actors, self.num_gpus = address, actors, num_gpus


def local_corpus(
    settings: dict[str, Any], source: TextSource, plan: StatsPlan, skip_errors: bool,
    no_color: bool,
) -> CorpusStats:  # fmt: skip
    """Every window of the source on this machine, folded into one total as it finishes."""
    from attninspect.analysis.corpus import CorpusStats
    from attninspect.api.corpus import empty_stats

    errors = feedback.stderr_console(no_color)
    inspector = feedback.load_inspector(no_color, plan.truncate, plan.batch_size, **settings)
    total = empty_stats(inspector.engine, plan)
    skipped = 0
    with feedback.progress_bar(errors, source, False) as advance:
        for part in inspector.stats_windows(source.items, plan, advance):  # per batch
            skipped += report_failures(part, skip_errors, errors)
            total.sums.add(part.sums)
    finish(source, total.sums.texts, skipped, errors)
    return CorpusStats(total.sums, inspector.model_name, plan.words, plan.hide_special, "local",
                       skipped, convention=plan.convention,
                       kind=plan.kind_of(inspector.engine))  # fmt: skip


def ray_corpus(
    settings: dict[str, Any], source: TextSource, plan: StatsPlan, ray: RayChoice,
    skip_errors: bool, no_color: bool,
) -> CorpusStats:  # fmt: skip
    """The same windows on Ray Data actors; the partial sums merged here."""
    from attninspect.analysis.corpus import CorpusStats
    from attninspect.api.corpus_ray import run_on_ray
    from attninspect.api.inspector import read_ahead

    errors = feedback.stderr_console(no_color)
    choice = (ray.address, ray.actors, ray.num_gpus)
    window = read_ahead(plan.batch_size)  # the local engine's windows
    total, measured = run_on_ray(settings, source.items, plan, choice, window)
    kind, _, model_name = measured.partition("\t")
    skipped = report_failures(total, skip_errors, errors)
    finish(source, total.sums.texts, skipped, errors)
    return CorpusStats(total.sums, model_name, plan.words, plan.hide_special, "ray", skipped,
                       convention=plan.convention, kind=kind)  # fmt: skip


def report_failures(part: WindowStats, skip_errors: bool, errors: Console) -> int:
    """Raise a window's first failure, or (--skip-errors) warn of each; truncation notes too."""
    for note in part.truncated:
        feedback.warn(errors, str(note))
    if part.failures and not skip_errors:
        raise part.failures[0]
    for failure in part.failures:
        feedback.warn(errors, f"skipped {failure}")
    return len(part.failures)


def finish(source: TextSource, texts: int, skipped: int, errors: Console) -> None:
    """Notes on what was skipped; an error when no text was measured."""
    if not texts:
        reason = "every text had an error" if skipped else "it had no text"
        raise AttnInspectError(f"nothing to measure in {source.description}: {reason}")
    feedback.notes(errors, source, skipped)


def write_stats(
    corpus: CorpusStats, output_format: str, output: Path | None, statistic: str, precision: int,
    no_color: bool,
) -> None:  # fmt: skip
    """The corpus in its format, to stdout or an atomic --output file."""
    from attninspect.cli.output import destination, write_one
    from attninspect.files.corpus_records import StatsResult, corpus_arrays

    if output_format == "npz":
        import numpy as np

        from attninspect.files.atomic import check_output_path

        assert output is not None  # check_stats_options refused npz without --output
        check_output_path(output)
        with destination(output, binary=True) as stream:
            arrays: dict[str, Any] = corpus_arrays(corpus)  # Any: not savez's allow_pickle
            np.savez_compressed(stream, **arrays)
        return
    write_one(StatsResult(corpus), output_format, output, stats_table(statistic, precision),
              no_color)  # fmt: skip


def stats_table(statistic: str, precision: int) -> TableFactory:
    """The table writer's factory for `stats`."""

    def make(console: Console) -> Writer:
        from attninspect.render.corpus_stats import stats_table as render
        from attninspect.render.table import TableWriter

        color = console.color_system is not None
        return TableWriter(console, lambda result, _: render(result.stats, statistic, color,
                                                             precision))  # fmt: skip

    return make
