"""`attninspect grid`: every layer x head at once, as small heatmaps (the model view)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from attninspect.cli import feedback
from attninspect.cli.choices import ModelChoice, OutputChoice, ViewChoice
from attninspect.cli.groups import grouped, only
from attninspect.cli.options import RunFormat, RunFormatOption, TextArgument, usage_error
from attninspect.cli.output import open_writer
from attninspect.cli.pictures import write_picture

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.pipeline import Analysed, ViewOptions
    from attninspect.analysis.selection import IndexSpec

Chosen = tuple[list[int], list[int]]  # the layer and head numbers shown


Shown = Annotated[ViewChoice, only("words", "hide_special", "rollout", "measure")]
Written = Annotated[OutputChoice, only("output", "layers", "heads", "save", "dpi", "no_color")]


@grouped
def grid(
    text: TextArgument,
    *,
    view: Shown,
    model: ModelChoice,
    output_format: RunFormatOption = RunFormat.table,
    out: Written,
) -> None:
    """Every layer x head (and each layer's head mean) as a small heatmap, labelled L3 H7."""
    from attninspect.analysis.pipeline import analyse, make_view
    from attninspect.cli.run import check_measure

    check_measure(view, False)  # --rollout, --words ... take weights alone
    if view.rollout and out.heads is not None:
        raise usage_error("--rollout shows one panel per layer; drop --heads", "'--heads'")
    if output_format is RunFormat.npz and out.output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    kind, dpi = out.picture()
    request = model.request(view.rollout)
    inspector = model.inspector(model.settings(), request, out.no_color)
    options = view.options()
    inspector.check(options)  # rollout of cross attention: a usage error
    with feedback.warnings_to(feedback.stderr_console(out.no_color)):
        inspection = measured_run(inspector, text, options.measure)
    analysed = analyse(inspection, options)
    shown, chosen = analysed.inspection, choose(analysed.inspection, out.layers, out.heads)
    table = partial(
        GridTable, shown=shown, chosen=chosen, note=_note(options), rollout=view.rollout
    )
    with open_writer(output_format.value, out.output, table, out.no_color) as writer:
        writer.write(grid_result(shown, make_view(summed(analysed), options, None), chosen))
    if out.save is not None and kind is not None:
        _save(out.save, (kind, dpi), shown, chosen, options, out.no_color)


def measured_run(inspector: object, text: str, measure: str) -> Inspection:
    """The inspection of ``text`` as ``measure`` measures it (here or on --server)."""
    return inspector.run(text, measure=measure)  # type: ignore[attr-defined]


def summed(analysed: Analysed[Inspection]) -> Analysed[Inspection]:
    """The analysed inspection whose head mean the record's view shows: for norms, the norm of
    the sum over heads (`measures.for_heads`), as `run --measure norms` shows it."""
    import dataclasses

    from attninspect.analysis.measures import for_heads

    inspection = analysed.inspection
    if inspection.measure != "norms" or inspection.head_sum is None:
        return analysed
    return dataclasses.replace(analysed, inspection=for_heads(inspection, "mean"))


def choose(inspection: Inspection, layers: IndexSpec | None, heads: IndexSpec | None) -> Chosen:
    """The layer and head numbers that --layers and --heads name, or a usage error."""
    from attninspect.analysis.ranges import pick

    try:
        chosen_layers = pick(layers, inspection.num_layers, "layers")
    except ValueError as error:
        raise usage_error(str(error), "'--layers'") from None
    try:
        chosen_heads = pick(heads, inspection.num_heads, "heads")
    except ValueError as error:
        raise usage_error(str(error), "'--heads'") from None
    return chosen_layers, chosen_heads


def grid_result(shown: Inspection, view: object, chosen: Chosen) -> object:
    """The data of the grid: `run --all-layers`'s record, narrowed to the layers and heads shown
    (as ``--layers`` / ``--heads`` narrow it there), with the last layer's head mean as the view."""
    import dataclasses

    import numpy as np

    from attninspect.files.records import RunResult

    layers, heads = chosen
    head_sum = None if shown.head_sum is None else shown.head_sum[layers]  # (L', T, T)
    if shown.head_mean is not None:
        every = shown.head_mean[layers]  # (L', T, T)
    else:
        every = shown.attention[layers].mean(axis=1)
    kept = dataclasses.replace(
        shown,
        attention=np.ascontiguousarray(shown.attention[np.ix_(layers, heads)]),  # (L', H', T, T)
        layers=[shown.layer_ids[i] for i in layers],
        heads=[shown.head_ids[j] for j in heads],
        model_layers=shown.num_layers,
        model_heads=shown.num_heads,
        head_sum=head_sum,
        head_mean=every,  # the mean panels, of every head
    )
    return RunResult(kept, view, all_layers=True)  # type: ignore[arg-type]


@dataclass
class GridTable:
    """The table format of `grid`: the panels of the chosen layers and heads (the writer of one
    result, which it draws from the whole analysed inspection)."""

    console: Console
    shown: Inspection
    chosen: Chosen
    note: str
    rollout: bool

    def write(self, _result: object) -> None:
        from attninspect.render.grid import write_grid

        color = self.console.color_system is not None
        write_grid(self.console, self.shown, self.chosen, color, self.note, self.rollout)
        self.console.file.flush()

    def close(self) -> None:
        pass


def _note(options: ViewOptions, picture: bool = False) -> str:
    """What the header (or a picture's title) adds to the model: the measure and the steps."""
    parts = [
        f" · {_measure_part(options.measure, picture)}" if options.measure != "weights" else "",
        " · words" if options.words else "",
        " · rollout (one panel per layer)" if options.rollout else "",
        " · special tokens hidden" if options.hide_special else "",
    ]
    return "".join(parts)


def _measure_part(measure: str, picture: bool) -> str:
    """What the header and a picture's title say the panels show, for another measure."""
    from attninspect.render.measure_text import title_part

    part = title_part(measure)
    if measure == "norms" and not picture:  # a picture says it on a line of its own
        part += "; mean panels: the norm of the sum over heads"
    return part


def _save(path: Path, picture: tuple[str, int], shown: Inspection, chosen: Chosen,
          options: ViewOptions, no_color: bool) -> None:  # fmt: skip
    from attninspect.cli.pictures import picture_memory
    from attninspect.render.pictures import grid_picture

    kind, dpi = picture
    title = f"{shown.model} · every layer × head{_note(options, picture=True)}"
    data = grid_picture(kind, dpi, shown, chosen, title, options.rollout, picture_memory())
    write_picture(path, data, no_color)
