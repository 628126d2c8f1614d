"""`attninspect stats`: per layer x head statistics over every row of every text of a corpus."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attninspect.cli import feedback
from attninspect.cli.choices import ModelChoice, OutputChoice, TextsChoice, ViewChoice
from attninspect.cli.groups import OptionGroup, grouped, only, without
from attninspect.cli.options import (
    OUTPUT,
    Convention,
    ConventionOption,
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


EngineOption = Annotated[
    StatsEngine,
    typer.Option(
        "--engine",
        metavar="NAME",
        help="local, or ray (the ray extra: Ray Data actors).",
        rich_help_panel=ENGINE,
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="ray: a running cluster. " + default("RAY_ADDRESS, else a local one"),
        rich_help_panel=ENGINE,
    ),
]
ActorsOption = Annotated[
    int,
    typer.Option(
        "--actors",
        metavar="N",
        callback=within(1, 4096),
        help="ray: model copies (actors).",
        rich_help_panel=ENGINE,
    ),
]
NumGpusOption = Annotated[
    float | None,
    typer.Option(
        "--num-gpus",
        metavar="N",
        callback=_gpus,
        help="ray: GPUs per actor. " + default("1 if the cluster has GPUs"),
        rich_help_panel=ENGINE,
    ),
]


@dataclass(frozen=True)
class RayChoice(OptionGroup):
    """Where `stats` runs (the Engine panel): here, or on Ray Data actors, and how wide."""

    engine: EngineOption = StatsEngine.local
    address: RayAddressOption = None
    actors: ActorsOption = 1
    num_gpus: NumGpusOption = None

    def check(self) -> None:
        """The ray options without --engine ray are a usage error."""
        if self.engine is StatsEngine.local:
            given = [
                name
                for name, value in (("--ray-address", self.address), ("--num-gpus", self.num_gpus))
                if value is not None
            ] + (["--actors"] if self.actors != 1 else [])
            if given:
                raise usage_error("applies to --engine ray only", ", ".join(given))


Shown = Annotated[ViewChoice, only("words", "hide_special")]
# The model, and for an encoder–decoder model the kind measured and the new tokens of a line
# without a target (a line's own SOURCE<TAB>TARGET is its --target).
StatsModel = Annotated[ModelChoice, without("target", "pair", "server")]
Written = Annotated[
    OutputChoice, only("output", "layers", "heads", "precision", "save", "dpi", "no_color")
]


@grouped
def stats(
    *,
    texts: TextsChoice,
    model: StatsModel,
    view: Shown,
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
    out: Written,
    ray: RayChoice,
) -> None:
    """Per layer x head over a corpus: entropy, previous/same/next/special, duplicate, induction.

    Each statistic is a mean over the rows where it is defined: entropy in bits; duplicate is the
    weight on earlier copies of a row's token, induction the weight on the tokens after them.
    --convention clark or transformerlens averages as those papers' code does instead.
    Encoder-decoder models: a line is a source (generated from) or SOURCE<TAB>TARGET."""
    from attninspect.api.corpus import StatsPlan

    output, no_color = out.output, out.no_color
    check_stats_options(texts, output_format, output, ray)
    kind = check_save_of(out.save, output)
    dpi = dpi_of(out.dpi, out.save)
    settings = model.settings()
    measured = model.attention.value if model.attention is not None else None  # the kind
    plan = StatsPlan(view.words, view.hide_special, out.layers, out.heads, texts.batch_size,
                     model.truncate, convention.value, measured,  # type: ignore[arg-type]
                     model.generate)  # fmt: skip
    source = texts.source()
    if ray.engine is StatsEngine.ray:
        corpus = ray_corpus(settings, source, plan, ray, texts.skip_errors, no_color)
    else:
        corpus = local_corpus(settings, source, plan, texts.skip_errors, no_color)
    write_stats(corpus, output_format.value, output, statistic.value, out.precision, no_color)
    if out.save is not None and kind is not None:
        from attninspect.cli.pictures import write_picture
        from attninspect.render.corpus_stats import stats_picture

        write_picture(out.save, stats_picture(kind, dpi, corpus), no_color)


def check_stats_options(
    texts: TextsChoice, output_format: StatsFormat, output: Path | None, ray: RayChoice
) -> None:
    """Which options go together, checked before any work (usage errors)."""
    if (texts.text is None) == (texts.file is None):
        message = "give a TEXT (or - for standard input) or --file, not both"
        raise usage_error(message if texts.text else "give a TEXT, - or --file FILE", "TEXT")
    if output_format is StatsFormat.npz and output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    ray.check()


def check_save_of(save: Path | None, output: Path | None) -> str | None:
    from attninspect.cli.pictures import check_save

    return check_save(save, output)


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
    skipped, started = 0, time.perf_counter()
    with feedback.progress_bar(errors, source, False) as advance:
        for part in inspector.stats_windows(source.items, plan, advance):  # per batch
            skipped += report_failures(part, skip_errors, errors)
            total.sums.add(part.sums)
    finish(source, total.sums.texts, skipped, errors)
    return CorpusStats(total.sums, inspector.model_name, plan.words, plan.hide_special, "local",
                       skipped, time.perf_counter() - started, convention=plan.convention,
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
    started = time.perf_counter()
    total, measured = run_on_ray(settings, source.items, plan, choice, window)
    seconds = time.perf_counter() - started  # the actors' loads included: they run in it
    kind, _, model_name = measured.partition("\t")
    skipped = report_failures(total, skip_errors, errors)
    finish(source, total.sums.texts, skipped, errors)
    return CorpusStats(total.sums, model_name, plan.words, plan.hide_special, "ray", skipped,
                       seconds, convention=plan.convention, kind=kind)  # fmt: skip


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
