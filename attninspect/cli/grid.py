"""`attninspect grid`: every layer x head at once, as small heatmaps (the model view)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.options import (
    AttentionOption,
    CausalOption,
    ChatOption,
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
    PairOption,
    RolloutOption,
    RunFormat,
    RunFormatOption,
    SaveOption,
    SeedOption,
    SystemOption,
    TargetOption,
    TokenizerOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    asking,
    chat_options,
    local_only,
    request_of,
    usage_error,
)
from attninspect.cli.output import open_writer
from attninspect.cli.pictures import check_save, dpi_of, write_picture
from attninspect.cli.remote import ServerOption, inspector_for  # --server

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.analysis.selection import IndexSpec

Chosen = tuple[list[int], list[int]]  # the layer and head numbers shown


def grid(
    text: Annotated[str, typer.Argument(help="The text to inspect.")],
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    target: TargetOption = None,
    generate: GenerateOption = None,
    pair: PairOption = None,
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
    rollout: RolloutOption = False,
    attention: AttentionOption = None,
    output_format: RunFormatOption = RunFormat.table,
    output: OutputOption = None,
    layers: LayersOption = None,
    heads: HeadsOption = None,
    save: SaveOption = None,
    dpi: DpiOption = None,
    no_color: NoColorOption = False,
    server: ServerOption = None,
) -> None:
    """Every layer x head (and each layer's head mean) as a small heatmap, labelled L3 H7."""
    from attninspect.analysis.pipeline import ViewOptions, analyse, make_view

    if rollout and heads is not None:
        raise usage_error("--rollout shows one panel per layer; drop --heads", "'--heads'")
    if output_format is RunFormat.npz and output is None:
        raise usage_error("--format npz writes a binary file: add --output FILE.npz", "'--format'")
    dpi = dpi_of(dpi, save)
    kind = check_save(save, output, dpi)
    request = request_of(target, generate, pair, attention, rollout)
    choice = ModelChoice(model, device, dtype, trust_remote_code, download, verbose, tokenizer,
                         dim, num_heads, causal, seed)  # fmt: skip
    engine = choice.engine() | chat_options(chat, system)
    inspector = asking(inspector_for(local_only(server, request), no_color, truncate, **engine),
                       request)  # fmt: skip
    options = ViewOptions(words=words, hide_special=hide_special, rollout=rollout)
    inspector.check(options)  # rollout of cross attention: a usage error
    with feedback.warnings_to(feedback.stderr_console(no_color)):
        inspection = inspector.run(text)
    analysed = analyse(inspection, options)
    shown, chosen = analysed.inspection, choose(analysed.inspection, layers, heads)
    table = partial(GridTable, shown=shown, chosen=chosen, note=_note(options), rollout=rollout)
    with open_writer(output_format.value, output, table, no_color) as writer:
        writer.write(grid_result(shown, make_view(analysed, options, None), chosen))
    if save is not None and kind is not None:
        _save(save, (kind, dpi), shown, chosen, options, no_color)


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
    kept = dataclasses.replace(
        shown,
        attention=np.ascontiguousarray(shown.attention[np.ix_(layers, heads)]),  # (L', H', T, T)
        layers=[shown.layer_ids[i] for i in layers],
        heads=[shown.head_ids[j] for j in heads],
        model_layers=shown.num_layers,
        model_heads=shown.num_heads,
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


def _note(options: ViewOptions) -> str:
    parts = [
        " · words" if options.words else "",
        " · rollout (one panel per layer)" if options.rollout else "",
        " · special tokens hidden" if options.hide_special else "",
    ]
    return "".join(parts)


def _save(path: Path, picture: tuple[str, int], shown: Inspection, chosen: Chosen,
          options: ViewOptions, no_color: bool) -> None:  # fmt: skip
    from attninspect.cli.pictures import picture_memory
    from attninspect.render.pictures import grid_picture

    kind, dpi = picture
    title = f"{shown.model} · every layer × head{_note(options)}"
    data = grid_picture(kind, dpi, shown, chosen, title, options.rollout, picture_memory())
    write_picture(path, data, no_color)
